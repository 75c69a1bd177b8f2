"""POST /rank over a real tiny bundle: both modes, the numbers, and one test per bad field."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from service.bundle import current_version_dir, load_manifest
from service.runtime.heads import calibrate
from service.runtime.onnx_model import make_session
from service.runtime.towers import OnnxTower


def reference_relevance(version_dir, query: str, ad_rows: list[int] | None = None,
                        ad_texts: list[str] | None = None) -> np.ndarray:
    """Relevance computed independently of the service, from the bundle's files."""
    m = load_manifest(version_dir)
    q = OnnxTower.from_manifest(version_dir, m, "query").encode([query])
    if ad_texts is not None:
        a = OnnxTower.from_manifest(version_dir, m, "ad").encode(ad_texts)
    else:
        a = np.load(version_dir / m.index.vectors_file)[ad_rows]
    res = make_session(version_dir / m.heads.res.file)
    logits = res.run(["logit"], {"q": np.repeat(q, len(a), 0), "a": a.astype(np.float32)})[0]
    return calibrate(logits, m.calibration)


def test_query_only_ranks_retrieved_ads(client, bundle_root) -> None:
    r = client.post("/rank", json={"query": "laufschuhe damen guenstig", "top_k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    vdir = current_version_dir(bundle_root)
    assert body["bundle_version"] == load_manifest(vdir).bundle_version
    assert set(body["timings_ms"]) == {"tokenize", "encode", "retrieve", "score", "total"}
    results = body["results"]
    assert [x["rank"] for x in results] == [1, 2, 3, 4, 5]
    scores = [x["score"] for x in results]
    assert scores == sorted(scores, reverse=True)
    table = pq.read_table(vdir / "ads.parquet").to_pylist()
    row_of = {t["ad_id"]: i for i, t in enumerate(table)}
    expected = reference_relevance(vdir, "laufschuhe damen guenstig", [row_of[x["ad_id"]] for x in results])
    np.testing.assert_allclose([x["relevance"] for x in results], expected, atol=1e-5)
    for x in results:
        t = table[row_of[x["ad_id"]]]
        assert (x["bid"], x["p_click"]) == (t["bid"], t["p_click"])
        assert x["p_defect"] == pytest.approx(1 - x["relevance"])
        assert x["score"] == pytest.approx(x["bid"] * x["p_click"] - 0.5 * x["p_defect"])
        assert 0 <= x["cost_per_click"] <= x["bid"]
        assert x["source"] == "index"


def test_candidates_are_retrieve_k_or_top_k(client) -> None:
    assert client.post("/rank", json={"query": "wohnung mieten", "top_k": 3}).json()["candidates"] == 20
    body = client.post("/rank", json={"query": "wohnung mieten", "top_k": 40}).json()
    assert body["candidates"] == 40 and len(body["results"]) == 40  # the whole catalog


def test_given_ads_use_stored_vectors_or_the_ad_tower(client, bundle_root) -> None:
    ads = [{"ad_id": "ad0003"},
           {"ad_id": "new-1", "title": "Laufschuhe Damen", "description": "jetzt im sale", "bid": 1.0, "p_click": 0.05},
           {"ad_id": "ad0007", "bid": 9.0}]
    r = client.post("/rank", json={"query": "laufschuhe", "ads": ads, "top_k": 10, "defect_weight": 0.2})
    assert r.status_code == 200, r.text
    by_id = {x["ad_id"]: x for x in r.json()["results"]}
    assert set(by_id) == {"ad0003", "new-1", "ad0007"}
    vdir = current_version_dir(bundle_root)
    assert by_id["new-1"]["source"] == "request" and by_id["ad0003"]["source"] == "index"
    expected_new = reference_relevance(vdir, "laufschuhe", ad_texts=["Laufschuhe Damen jetzt im sale"])
    assert by_id["new-1"]["relevance"] == pytest.approx(float(expected_new[0]), abs=1e-5)
    assert by_id["ad0007"]["bid"] == 9.0  # the request overrides the table's bid
    assert by_id["new-1"]["score"] == pytest.approx(0.05 - 0.2 * by_id["new-1"]["p_defect"])


def test_min_relevance_drops_ads_and_reserve_floors_prices(client) -> None:
    base = client.post("/rank", json={"query": "fahrrad kinder", "top_k": 20}).json()["results"]
    rels = sorted(x["relevance"] for x in base)
    cut = rels[len(rels) // 2]
    kept = client.post("/rank", json={"query": "fahrrad kinder", "top_k": 20, "min_relevance": cut}).json()["results"]
    assert kept and all(x["relevance"] >= cut for x in kept) and len(kept) < len(base)
    reserve = base[2]["score"]
    top = client.post("/rank", json={"query": "fahrrad kinder", "top_k": 20, "reserve": reserve}).json()["results"]
    assert [x["ad_id"] for x in top] == [x["ad_id"] for x in base[:3]]
    last = top[-1]
    assert last["cost_per_click"] == pytest.approx(
        min(last["bid"], max(0.0, (reserve + 0.5 * last["p_defect"]) / last["p_click"])))


def test_floor_and_reserve_default_from_settings(client, _pristine_root) -> None:
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from tests.service.conftest import make_settings

    body = {"query": "fahrrad kinder", "top_k": 20}
    base = client.post("/rank", json=body).json()["results"]
    cut, reserve = sorted(x["relevance"] for x in base)[len(base) // 2], base[3]["score"]
    with TestClient(create_app(make_settings(_pristine_root, min_relevance=cut, reserve=reserve))) as c:
        floored = c.post("/rank", json=body).json()["results"]
        assert floored and len(floored) < len(base)
        assert all(x["relevance"] >= cut and x["score"] >= reserve for x in floored)
        # a request's own values win; an explicit null reserve means none
        own = c.post("/rank", json={**body, "min_relevance": 0, "reserve": None}).json()["results"]
        assert [x["ad_id"] for x in own] == [x["ad_id"] for x in base]
        assert own[-1]["cost_per_click"] == 0.0  # the last ad, with no reserve, pays 0


def test_second_identical_query_hits_the_cache(client) -> None:
    client.post("/rank", json={"query": "flug berlin"})
    body = client.post("/rank", json={"query": "flug berlin"}).json()
    assert body["query_cached"] is True
    assert body["timings_ms"]["encode"] == 0


BAD = [
    ({"query": ""}, 422, "query", "query: "),
    ({"query": "   "}, 422, "query", "query: "),
    ({"query": "x" * 300}, 422, "query", "query: longer than 256 characters"),
    ({"query": "x" * 3000}, 422, "query", "query: "),
    ({}, 422, "query", "query: field required"),
    ({"query": "x", "colour": "red"}, 422, "colour", "colour: unknown field"),
    ({"query": "x", "ads": [{"ad_id": "a", "bid": -1, "title": "t", "p_click": 0.1}]}, 422, "ads[0].bid",
     "ads[0].bid: Input should be greater than or equal to 0"),
    ({"query": "x", "ads": [{"ad_id": "a", "bid": 1, "title": "t", "p_click": 1.5}]}, 422, "ads[0].p_click",
     "ads[0].p_click: Input should be less than or equal to 1"),
    ({"query": "x", "ads": [{"ad_id": "a", "bid": 1, "title": "t", "p_click": -0.1}]}, 422, "ads[0].p_click",
     "ads[0].p_click: "),
    ({"query": "x", "ads": [{"ad_id": "a", "bid": 1, "title": "t", "p_click": 0.1, "url": "u"}]}, 422,
     "ads[0].url", "ads[0].url: unknown field"),
    ({"query": "x", "ads": [{"ad_id": "a", "bid": 1, "p_click": 0.1}]}, 422, "ads[0].title",
     "ads[0].title: required for an ad that is not in the bundle"),
    ({"query": "x", "ads": [{"ad_id": "a", "title": "t", "p_click": 0.1}]}, 422, "ads[0].bid", "ads[0].bid: required"),
    ({"query": "x", "ads": [{"ad_id": "ad0001"}, {"ad_id": "ad0001"}]}, 422, "ads[1].ad_id",
     "ads[1].ad_id: duplicate ad_id"),
    ({"query": "x", "ads": [{"ad_id": f"ad{i:04d}"} for i in range(201)]}, 422, "ads",
     "ads: at most 200 ads per request"),
    ({"query": "x", "ads": []}, 422, "ads", "ads: must not be empty"),
    ({"query": "x", "top_k": 0}, 422, "top_k", "top_k: "),
    ({"query": "x", "top_k": 500}, 422, "top_k", "top_k: at most 100"),
    ({"query": "x", "defect_weight": -1}, 422, "defect_weight", "defect_weight: "),
    ({"query": "x", "min_relevance": 2}, 422, "min_relevance", "min_relevance: "),
]


@pytest.mark.parametrize(("body", "status", "field", "message"), BAD,
                         ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD)])
def test_bad_field_is_named(client, body, status, field, message) -> None:
    r = client.post("/rank", json=body)
    assert r.status_code == status, r.text
    err = r.json()
    assert err["field"] == field
    assert err["error"].startswith(message), err


@pytest.mark.parametrize("raw", [b'{"query": "x", "ads": [{"ad_id": "a", "bid": NaN}]}',
                                 b'{"query": "x", "ads": [{"ad_id": "a", "bid": Infinity}]}'])
def test_non_finite_bid_is_refused(client, raw: bytes) -> None:
    r = client.post("/rank", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["field"] == "ads[0].bid" and "finite" in r.json()["error"]


def test_non_json_body(client) -> None:
    r = client.post("/rank", content=b"query=laufschuhe", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"].startswith("body: not valid JSON")


def test_body_over_the_limit(client) -> None:
    r = client.post("/rank", content=b'{"query": "' + b"x" * 300_000 + b'"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json() == {"error": "body: larger than the limit of 262144 bytes", "error_type": "too_large",
                        "field": "body"}


def test_openapi_and_docs(client) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/rank", "/healthz", "/readyz", "/metrics", "/admin/reload"} <= set(spec["paths"])
    assert {"422", "429", "503"} <= set(spec["paths"]["/rank"]["post"]["responses"])


def test_rank_dependencies_stay_on_the_event_loop() -> None:
    """FastAPI runs a plain-`def` dependency in its thread pool: two thread hand-offs per request (perf)."""
    import inspect

    from service.api.routes import rank

    route = next(r for r in rank.router.routes if getattr(r, "path", None) == "/rank")
    pending, sync = list(route.dependant.dependencies), []
    while pending:
        dep = pending.pop()
        pending.extend(dep.dependencies)
        if dep.call is not None and not inspect.iscoroutinefunction(dep.call):
            sync.append(dep.call.__name__)
    assert sync == []


@pytest.fixture(scope="module")
def fastapi_client(_pristine_root):
    """The same app with /rank served by the FastAPI route instead of the ASGI fast path."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from tests.service.conftest import make_settings

    with TestClient(create_app(make_settings(_pristine_root, fast_rank_path=False))) as c:
        yield c


PARITY_RAW = [
    (b"", "application/json"), (b"{not json", "application/json"), (b"[1, 2]", "application/json"),
    (b'"text"', "application/json"), (b'{"query": "laufschuhe"}', "text/plain"),
    (b'{"query": "laufschuhe", "top_k": 3}', None), (b'{"query": "laufschuhe", "top_k": 3}', "application/json"),
    (b'{"query": "laufschuhe", "top_k": 3}', "application/vnd.api+json; charset=utf-8"),
]


@pytest.mark.parametrize("body", [b for b, *_ in BAD] + [{"query": "laufschuhe damen", "top_k": 4},
                                                         {"query": "x", "ads": [{"ad_id": "ad0001"}]}])
def test_fast_path_answers_as_the_fastapi_route(client, fastapi_client, body) -> None:
    fast, slow = client.post("/rank", json=body), fastapi_client.post("/rank", json=body)
    assert (fast.status_code, fast.headers["content-type"]) == (slow.status_code, slow.headers["content-type"])
    assert _comparable(fast.json()) == _comparable(slow.json())


@pytest.mark.parametrize(("raw", "content_type"), PARITY_RAW)
def test_fast_path_reads_bodies_as_the_fastapi_route(client, fastapi_client, raw, content_type) -> None:
    headers = {"content-type": content_type} if content_type else {}
    fast = client.post("/rank", content=raw, headers=headers)
    slow = fastapi_client.post("/rank", content=raw, headers=headers)
    assert fast.status_code == slow.status_code, (fast.text, slow.text)
    assert _comparable(fast.json()) == _comparable(slow.json())


def _comparable(doc: dict) -> dict:
    """A /rank answer without what legitimately differs between two apps: timings, the cache flag, and the
    JSON parser's wording of a syntax error."""
    doc = {k: v for k, v in doc.items() if k not in ("timings_ms", "query_cached")}
    if doc.get("error_type") == "bad_request":
        doc["error"] = doc["error"].split(" (")[0]
    return doc


@pytest.fixture(scope="module")
def workers_client(_pristine_root):
    """The same app with query-only requests searched and scored on the worker threads, not the event loop."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from tests.service.conftest import make_settings

    with TestClient(create_app(make_settings(_pristine_root, retrieve_on_event_loop=False))) as c:
        yield c


@pytest.mark.parametrize("body", [
    {"query": "laufschuhe damen", "top_k": 4}, {"query": "wohnung mieten", "top_k": 40},
    {"query": "winterjacke", "min_relevance": 0.4, "reserve": 0.01, "defect_weight": 2.0},
    {"query": "x", "top_k": 0}, {"query": "x" * 300},
])
def test_ranking_on_the_event_loop_answers_as_the_workers(client, workers_client, body) -> None:
    on_loop, on_workers = client.post("/rank", json=body), workers_client.post("/rank", json=body)
    assert on_loop.status_code == on_workers.status_code
    assert _comparable(on_loop.json()) == _comparable(on_workers.json())
    assert client.app.state.settings.retrieve_on_event_loop  # the default: the first client ran on the loop
    if on_loop.status_code == 200 and "min_relevance" not in body:
        assert on_loop.json()["results"]


def test_streamed_body_over_the_limit_is_refused_while_reading(client) -> None:
    def chunks():  # no Content-Length: httpx sends it chunked, so only the byte count can stop it
        yield b'{"query": "'
        for _ in range(40):
            yield b"x" * 10_000
        yield b'"}'

    r = client.post("/rank", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error_type"] == "too_large"


def test_read_body_joins_chunks_and_reports_a_disconnect() -> None:
    import asyncio

    from service.api.middleware import BodyTooLarge, read_body

    def receiver(messages):
        it = iter(messages)

        async def receive():
            return next(it)
        return receive

    parts = [{"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.request", "body": b"cd"}]
    assert asyncio.run(read_body(receiver(parts))) == b"abcd"
    assert asyncio.run(read_body(receiver([parts[0], {"type": "http.disconnect"}]))) is None
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(receiver(parts), max_bytes=3))
    assert asyncio.run(read_body(receiver(parts), max_bytes=4)) == b"abcd"
