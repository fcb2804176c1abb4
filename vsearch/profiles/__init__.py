"""`vsearch profile` and `vsearch recommend`: tag and attribute profiles of sellers or brands from
representative photos, and recommendation by profile cosine with explanations."""
