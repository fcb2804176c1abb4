"""Catalogue grouping: offers of the same product from many sellers become one catalogue entry.

Titles → candidate pairs (exact sparse character n-gram kNN within category) → pair matcher (learned from
labelled groups, or a rule-based default) → seller-constrained merging → per-group quality for review.
"""
