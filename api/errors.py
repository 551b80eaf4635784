"""RFC 9457 problem+json: every error the API returns, mapped from domain errors in one place."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo.errors import (
    Conflict,
    DatabaseUnavailable,
    Forbidden,
    GridmapError,
    InvalidInput,
    NotFound,
    Unauthenticated,
)

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
STATUS: dict[type[GridmapError], int] = {
    NotFound: 404,
    InvalidInput: 422,
    Conflict: 409,
    Unauthenticated: 401,
    Forbidden: 403,
    DatabaseUnavailable: 503,
}


def problem(status: int, title: str, detail: str, request: Request,
            **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail,
            "instance": request.url.path, **{k: v for k, v in extra.items() if v is not None}}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def status_of(error: GridmapError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


async def gridmap_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, GridmapError)
    status = status_of(error)
    if status >= 500:
        logger.error("%s: %s", type(error).__name__, error.detail, exc_info=error)
    response = problem(status, error.title, error.detail, request, field=error.field,
                       fix=error.fix, **error.extra)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [{"field": ".".join(str(part) for part in item["loc"][1:]) or str(item["loc"][0]),
               "message": item["msg"]} for item in error.errors()]
    detail = "; ".join(f"{item['field']}: {item['message']}" for item in errors)
    return problem(422, "Invalid request", detail, request, errors=errors,
                   field=errors[0]["field"] if errors else None)


async def http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    return problem(error.status_code, str(error.detail), str(error.detail), request)


async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    logger.error("unhandled error on %s", request.url.path, exc_info=error)
    return problem(500, "Internal server error", "an unexpected error happened; it was logged",
                   request)


def register(app: FastAPI) -> None:
    """Install the handlers that turn every error into a problem+json response."""
    for kind, handler in [(GridmapError, gridmap_error), (RequestValidationError, validation_error),
                          (StarletteHTTPException, http_error), (Exception, unexpected_error)]:
        app.add_exception_handler(kind, handler)
