"""`vsearch classify` and `vsearch trainset`: category from title and photo, a versioned training set, and a
champion model replaced only by a measurably better one."""
