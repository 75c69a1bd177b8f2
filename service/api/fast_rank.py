"""POST /rank straight from ASGI: the hot path, without FastAPI's routing, dependency solving and body parsing.

At 200 req/s on two cores every CPU millisecond per request is a tenth of a core, and FastAPI's generic path
costs event-loop CPU per /rank request (measured in reports/perf/README.md); this one parses the body with
pydantic-core straight from bytes and calls the same `to_query` / ranker / `to_body` as the FastAPI route, which
stays as the documented contract (OpenAPI) and serves /rank when `fast_rank_path` is off.
"""

from __future__ import annotations

import logging

import orjson
from pydantic import ValidationError
from starlette.datastructures import Headers

from service.api.errors import error_response, from_errors
from service.api.middleware import is_rank_post, read_body
from service.api.routes.rank import to_body, to_query
from service.errors import ErrorKind, ServiceError, invalid
from service.logs import note_bundle_version
from service.schemas import RankRequest

log = logging.getLogger(__name__)
_JSON = (b"content-type", b"application/json")


class FastRank:
    """Serve POST /rank itself; pass every other request to `app`. `state` is the FastAPI app's state (the
    ranker and settings appear there once the lifespan has started)."""

    def __init__(self, app, state) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if not is_rank_post(scope):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)  # the BodyLimit middleware outside has bounded it
        if body is None:
            return
        status, headers, payload = await self._rank(body, Headers(scope=scope).get("content-type"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _rank(self, body: bytes, content_type: str | None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """(status, headers, body) of the answer."""
        try:
            # FastAPI's rules: no body is a missing field; a body it does not read as JSON is not an object
            if not body:
                raise invalid("body", "field required")
            if content_type is None or not _is_json(content_type):
                raise invalid("body", "must be a JSON object (send Content-Type: application/json)")
            try:
                request = RankRequest.model_validate_json(body)
            except ValidationError as exc:
                # located as FastAPI locates body errors, so both paths name fields the same way
                raise from_errors([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]) from None
            ranker, settings = self.state.ranker, self.state.settings
            outcome = await ranker.rank(to_query(request, settings))
            ranker.metrics.observe_stages(outcome.timings_s)
            note_bundle_version(outcome.bundle_version)
            payload = orjson.dumps(to_body(request.query, outcome), option=orjson.OPT_SERIALIZE_NUMPY)
            return 200, [_JSON, (b"content-length", str(len(payload)).encode())], payload
        except ServiceError as exc:
            response = error_response(exc)
        except Exception:
            log.exception("unhandled error on POST /rank")
            response = error_response(ServiceError(ErrorKind.BACKEND, "internal error"))
        return response.status_code, response.raw_headers, response.body


def _is_json(content_type: str) -> bool:
    main = content_type.split(";", 1)[0].strip().lower()
    return main == "application/json" or (main.startswith("application/") and main.endswith("+json"))
