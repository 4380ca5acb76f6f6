"""The OpenAPI document as the server really answers (the fuzz suite checks it):

- every 4xx/5xx is ``application/problem+json`` with the ``Problem`` schema (RFC 9457),
  never FastAPI's default ``application/json`` validation error;
- the answers the gateway gives before any handler runs are documented on every
  operation they can reach: 400 (a NUL or invalid UTF-8 in the path or a query
  parameter), 401 and 429 (keys, rate limits) and, on writes, the body cap (413) and the
  Idempotency-Key outcomes (400, 409, 422).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from fastapi import FastAPI

PROBLEM_JSON: Final = "application/problem+json"
_PROBLEM_REF: Final = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA: Final[dict[str, Any]] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `errors` names the inputs at fault.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "request_id": {"type": ["string", "null"]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                },
            },
        },
    },
}

_EVERYWHERE: Final = {
    400: "Bad request: a NUL character or invalid UTF-8 in the path or a query parameter, "
    "or a parameter the endpoint cannot use (named in `errors`)",
}
_AUTHENTICATED: Final = {
    401: "Missing, bad or revoked API key",
    429: "Rate limit of the key reached (see Retry-After)",
}
_WRITES: Final = {
    400: "Bad request (an Idempotency-Key longer than 255 characters included)",
    409: "A request with the same Idempotency-Key is still running",
    413: "The request body is larger than the cap",
    422: "Invalid body (errors name the field), or an Idempotency-Key reused for another request",
}
_PUBLIC: Final = frozenset({"/healthz", "/readyz"})
_METHODS: Final = frozenset({"get", "put", "post", "patch", "delete"})


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) return the document described above."""
    app.openapi = _builder(app)  # type: ignore[method-assign]


def _builder(app: FastAPI) -> Callable[[], dict[str, Any]]:
    generate = app.openapi  # FastAPI's own, which keeps its result in app.openapi_schema

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_responses(generate())
        return app.openapi_schema

    return openapi


def problem_responses(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with every error answer documented as problem+json (see the module)."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            extra = dict(_EVERYWHERE)
            if path not in _PUBLIC:
                extra.update(_AUTHENTICATED)
            if method != "get":
                extra.update(_WRITES)
            for status, description in extra.items():
                responses.setdefault(str(status), {"description": description})
            for status, answer in responses.items():
                if status[:1] in ("4", "5"):
                    answer["content"] = {PROBLEM_JSON: {"schema": _PROBLEM_REF}}
    return spec
