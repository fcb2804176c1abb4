"""`vsearch group`: the same product from many sellers grouped into one catalogue entry (kNN graph over image
and title vectors, seller constraint, clustering, group quality, incremental assignment)."""
