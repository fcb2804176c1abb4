"""`--engine ray`: the catalogue build on a Ray cluster (sharded reading, embedding actors, the same store)."""
