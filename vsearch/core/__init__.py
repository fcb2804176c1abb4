"""What every layer shares and nothing else: exceptions, atomic writes, logging and progress, the id split,
pure metric functions. Imports nothing from vsearch."""
