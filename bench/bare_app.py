"""The anchor of ``locate_http``: a bare FastAPI endpoint returning a constant JSON."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()
ANSWER = {"lon": 120.27, "lat": 30.18, "covered": True, "grid": {"code": "330109002041001"}}


@app.get("/bare")
async def bare() -> dict[str, object]:
    return ANSWER
