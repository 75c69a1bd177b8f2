"""Locust scenario for teams that use Locust: `locust -f load_tests/tools/locustfile.py --host http://127.0.0.1:8000`.

Locust users are closed-loop (each waits for its answer before the next request), so under overload it
under-reports tail latency (coordinated omission). For latency figures use `twinrank loadtest`, which is
open loop. Settings by environment: TWINRANK_LT_QUERIES (query file, one per line or a QADSM TSV),
TWINRANK_LT_ADS_RATIO (share of requests that send ads, default 0.2), TWINRANK_LT_TOP_K (default 10).
"""

from __future__ import annotations

import json
import os
import random

from locust import FastHttpUser, constant_throughput, task

from load_tests.generator.mix import synthetic_ads
from load_tests.generator.queries import load_queries

QUERIES = load_queries(os.environ.get("TWINRANK_LT_QUERIES") or None)
ADS = synthetic_ads(QUERIES, 500)
ADS_RATIO = float(os.environ.get("TWINRANK_LT_ADS_RATIO", "0.2"))
TOP_K = int(os.environ.get("TWINRANK_LT_TOP_K", "10"))


class RankUser(FastHttpUser):
    """One simulated client: about one /rank per second, query-only or with ads in the set ratio."""

    wait_time = constant_throughput(1.0)

    def _rank(self, body: dict, name: str) -> None:
        with self.client.post("/rank", data=json.dumps(body), headers={"Content-Type": "application/json"},
                              name=name, catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}: {resp.text[:200]}")
            elif "results" not in resp.json():
                resp.failure("response has no 'results'")

    @task
    def rank(self) -> None:
        body = {"query": random.choice(QUERIES), "top_k": TOP_K}
        if random.random() < ADS_RATIO:
            body["ads"] = [a.as_dict() for a in random.sample(ADS, 10)]
            self._rank(body, "/rank (ads)")
        else:
            self._rank(body, "/rank (query)")
