"""One /rank request over one loaded bundle: query vector → candidates → crossing head → auction."""

from __future__ import annotations

import time
from concurrent.futures import Future

import numpy as np

from service.bundle import ad_text
from service.errors import invalid
from service.ranker.ad_table import AdTable
from service.ranker.auction import run_auction
from service.ranker.batcher import Encoded, QueryBatcher
from service.ranker.loaded import LoadedBundle
from service.ranker.types import AdInput, RankedAd, RankOutcome, RankQuery


def rank(bundle: LoadedBundle, batcher: QueryBatcher, req: RankQuery, retrieve_k: int,
         ad_batch: int) -> RankOutcome:
    """Rank for one request (synchronous; call it from a worker thread, never on the event loop).

    The caller has announced this request to `batcher` (see `query_vector`).
    """
    t_start = time.perf_counter()
    cached, pending = query_vector(bundle, batcher, req.query)
    enc = pending.result() if pending is not None else None
    return rank_with_query_vector(bundle, req, cached, enc, t_start, retrieve_k, ad_batch)


def query_vector(bundle: LoadedBundle, batcher: QueryBatcher, query: str) -> tuple[np.ndarray | None,
                                                                                   Future[Encoded] | None]:
    """The cached vector of an announced query (and the announcement withdrawn), or the batcher's future for it."""
    cached = bundle.query_cache.get(query)
    if cached is not None:
        batcher.withdraw()
        return cached, None
    return None, batcher.submit(query, announced=True)


def rank_with_query_vector(bundle: LoadedBundle, req: RankQuery, cached: np.ndarray | None, enc: Encoded | None,
                           t_start: float, retrieve_k: int, ad_batch: int) -> RankOutcome:
    """The rest of `rank`, given the query vector: from the cache (`cached`) or just encoded (`enc`, then cached)."""
    timings = {"tokenize": 0.0, "encode": 0.0, "retrieve": 0.0, "score": 0.0}
    batch_size = 0
    if enc is not None:
        q, batch_size = enc.vector, enc.batch_size
        timings["tokenize"], timings["encode"] = enc.tokenize_s, enc.encode_s
        bundle.query_cache.put(req.query, q)
    else:
        assert cached is not None
        q = cached
    t0, cpu0 = time.perf_counter(), time.thread_time()
    if req.ads is None:
        rows, vectors, bid, p_click = _retrieve(bundle, q, max(retrieve_k, req.top_k))
        ad_ids, sources = _RowIds(bundle.ads, rows), ["index"] * len(rows)
        timings["retrieve"] = time.perf_counter() - t0
    else:
        ad_ids, vectors, bid, p_click, sources, t_tok, t_enc = _given(bundle, req.ads, ad_batch)
        timings["tokenize"] += t_tok
        timings["encode"] += t_enc
        timings["retrieve"] = time.perf_counter() - t0 - t_tok - t_enc
    t1, cpu1 = time.perf_counter(), time.thread_time()
    relevance = bundle.relevance(q, vectors)
    auction = run_auction(relevance, bid, p_click, defect_weight=req.defect_weight, top_k=req.top_k,
                          min_relevance=req.min_relevance, reserve=req.reserve)
    results = [
        RankedAd(ad_id=ad_ids[i], rank=r + 1, score=float(auction.score[i]), relevance=float(relevance[i]),
                 p_defect=float(1.0 - relevance[i]), p_click=float(p_click[i]), bid=float(bid[i]),
                 cost_per_click=float(auction.cpc[r]), source=sources[i])
        for r, i in enumerate(auction.order.tolist())
    ]
    t_end = time.perf_counter()
    timings["score"] = t_end - t1
    timings["total"] = t_end - t_start
    cpu = {"candidates": cpu1 - cpu0, "score": time.thread_time() - cpu1}
    return RankOutcome(bundle.version, results, len(sources), timings, cpu, enc is None, batch_size)


class _RowIds:
    """The ad ids of retrieved rows, looked up only for the ads shown (a 100-candidate list costs 0.1 ms)."""

    def __init__(self, table: AdTable, rows: np.ndarray) -> None:
        self.table, self.rows = table, rows

    def __getitem__(self, i: int) -> str:
        return self.table.ad_id(int(self.rows[i]))


def _retrieve(bundle: LoadedBundle, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rows, vectors, bid, p_click) of the top-k candidates from the ANN index."""
    if bundle.size == 0:
        return np.zeros(0, np.int64), np.zeros((0, bundle.dim), np.float32), np.zeros(0), np.zeros(0)
    _, rows = bundle.index.search(q[None, :], k)
    rows = rows[0][rows[0] >= 0]
    table = bundle.ads
    return rows, bundle.vectors.rows(rows), table.bid[rows], table.p_click[rows]


def _given(bundle: LoadedBundle, ads: list[AdInput], ad_batch: int):
    """Stored vectors for ads the bundle knows, the ad tower for the others (one batched pass)."""
    table = bundle.ads
    n = len(ads)
    vectors = np.empty((n, bundle.dim), dtype=np.float32)
    bid, p_click = np.empty(n), np.empty(n)
    known_pos, known_rows, new_pos, new_texts, sources = [], [], [], [], []
    for i, (ad, row) in enumerate(zip(ads, table.rows_of([ad.ad_id for ad in ads]).tolist(), strict=True)):
        if row < 0:
            for name in ("title", "bid", "p_click"):
                if getattr(ad, name) is None:
                    raise invalid(f"ads[{i}].{name}", f"required for an ad that is not in the bundle "
                                                      f"(ad_id {ad.ad_id!r})")
            new_pos.append(i)
            new_texts.append(ad_text(ad.title or "", ad.description or "", bundle.ad_separator))
            sources.append("request")
        else:
            known_pos.append(i)
            known_rows.append(row)
            sources.append("index")
        bid[i] = ad.bid if ad.bid is not None else table.bid[row]
        p_click[i] = ad.p_click if ad.p_click is not None else table.p_click[row]
    if known_rows:
        vectors[known_pos] = bundle.vectors.rows(np.asarray(known_rows))
    t_tok = t_enc = 0.0
    if new_texts:
        vectors[new_pos], t_tok, t_enc = bundle.encode_ads(new_texts, ad_batch)
    return [ad.ad_id for ad in ads], vectors, bid, p_click, sources, t_tok, t_enc
