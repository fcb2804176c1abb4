"""`vsearch bench`: measured speed and recall of embedding, index types and queries on this machine."""
