"""gridmap's HTTP API (FastAPI): the only layer that knows HTTP."""
