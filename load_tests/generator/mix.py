"""The request mix: pre-serialised /rank bodies for both modes, drawn in a set ratio.

`query` mode omits `ads` (the service retrieves from its index); `ads` mode sends the ads to score.
Bodies are built once before the run so the generator spends no time on JSON while it is sending.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

_TITLES = ["{q} kaufen", "{q} im Angebot", "Top {q} guenstig", "{q} - jetzt bestellen", "{q} Vergleich"]
_DESCS = ["Grosse Auswahl, schnelle Lieferung.", "Kostenloser Versand ab 20 Euro.", "Jetzt sparen!"]


@dataclass(frozen=True)
class Request:
    mode: str  # "query" | "ads"
    body: bytes


@dataclass(frozen=True)
class Ad:
    ad_id: str
    title: str
    description: str
    bid: float
    p_click: float

    def as_dict(self) -> dict:
        return {"ad_id": self.ad_id, "title": self.title, "description": self.description,
                "bid": self.bid, "p_click": self.p_click}


def synthetic_ads(queries: list[str], n: int, seed: int = 0) -> list[Ad]:
    """`n` project-made ads whose titles reuse query words (ids not in any index: the service encodes them)."""
    rng = random.Random(seed)
    return [
        Ad(f"lt-{i}", rng.choice(_TITLES).format(q=rng.choice(queries)), rng.choice(_DESCS),
           round(rng.uniform(0.05, 2.0), 3), round(rng.uniform(0.001, 0.1), 4))
        for i in range(n)
    ]


def ads_from_table(path: str | Path, n: int, seed: int = 0) -> list[Ad]:
    """`n` ads sampled from a Parquet ad table (e.g. a bundle's `ads.parquet`): their stored vectors are used."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["ad_id", "title", "description", "bid", "p_click"])
    rng = random.Random(seed)
    rows = rng.sample(range(table.num_rows), min(n, table.num_rows))
    cols = {c: table.column(c).take(rows).to_pylist() for c in table.column_names}
    return [Ad(str(a), str(t), str(d), float(b), float(p)) for a, t, d, b, p in
            zip(cols["ad_id"], cols["title"], cols["description"], cols["bid"], cols["p_click"], strict=True)]


DEFAULT_BODIES = 1000  # request bodies a run cycles through


def build_mix(
    queries: list[str],
    *,
    ads_ratio: float = 0.0,
    ads_per_request: int = 10,
    ad_pool: list[Ad] | None = None,
    top_k: int = 10,
    defect_weight: float = 0.5,
    n_bodies: int = DEFAULT_BODIES,
    extra: dict | None = None,
    seed: int = 0,
    in_order: bool = False,
) -> list[Request]:
    """`n_bodies` requests; a share `ads_ratio` (0–1) of them carry `ads_per_request` ads. Each body's query is
    drawn from `queries` at random, or with `in_order` taken in turn (a replayed stream)."""
    if not queries:
        raise ValueError("the query pool is empty")
    if not 0.0 <= ads_ratio <= 1.0:
        raise ValueError(f"ads_ratio must be in [0, 1], got {ads_ratio}")
    rng = random.Random(seed)
    pool = ad_pool if ad_pool is not None else synthetic_ads(queries, max(200, ads_per_request), seed)
    if ads_ratio > 0 and len(pool) < ads_per_request:
        raise ValueError(f"ad pool has {len(pool)} ads, fewer than ads_per_request={ads_per_request}")
    n_ads = round(ads_ratio * n_bodies)
    modes = ["ads"] * n_ads + ["query"] * (n_bodies - n_ads)
    rng.shuffle(modes)
    out = []
    for i, mode in enumerate(modes):
        query = queries[i % len(queries)] if in_order else rng.choice(queries)
        body: dict = {"query": query, "top_k": top_k, "defect_weight": defect_weight}
        if mode == "ads":
            body["ads"] = [a.as_dict() for a in rng.sample(pool, ads_per_request)]
        if extra:
            body.update(extra)
        out.append(Request(mode, json.dumps(body, ensure_ascii=False).encode("utf-8")))
    return out
