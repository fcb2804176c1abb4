"""vsearch: search a product catalogue by photo and text, and tag products.

Importing this package is cheap: torch, faiss and the models load inside the functions that use them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
