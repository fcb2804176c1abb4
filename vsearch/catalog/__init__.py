"""Reading catalogues: a folder of photos and its labels file (CSV, JSONL, Parquet), and decoding any image
file a shop may have into upright RGB."""
