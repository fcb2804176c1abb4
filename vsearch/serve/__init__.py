"""`vsearch serve`: the HTTP API and web page over one loaded index (FastAPI + uvicorn).

`live` keeps the loaded index in step with what other processes publish; `app` holds the routes.
"""
