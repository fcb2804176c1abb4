"""`vsearch train retrieval`: metric learning on product identity, package text (OCR) and re-ranking for
camera photo -> product."""
