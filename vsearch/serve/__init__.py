"""`vsearch serve`: the HTTP API and web page over one loaded index (FastAPI + uvicorn)."""
