"""The index engine: the lmdb store (vectors + metadata), the manifest, build/add/remove, FAISS structures
chosen and tuned for size and memory, metadata filters, heads stored with an index, and the Searcher that
answers queries."""
