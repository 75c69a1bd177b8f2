"""Peer 1 of `twinrank bench --only peers`: the ad-ranking service a user would write without twinrank.

sentence-transformers (PyTorch) with multilingual-e5-small, the catalog's "passage: " vectors normalised in
an exact FAISS inner-product index (`IndexFlatIP`: what one picks for a few thousand ads), and a plain
FastAPI route with pydantic models and FastAPI's default JSON. The request is the one the load generator sends
to twinrank's /rank (`query`, `top_k`; other fields are ignored), the answer the top-k ads with their cosine.

It is deliberately twinrank-free (no project imports): what it costs is what the user's stack costs.
Threads: PyTorch and FAISS get `--threads` each (the service's ONNX Runtime and FAISS default: 1), one
uvicorn worker; the route is a plain `def`, so FastAPI runs it on its thread pool as users' apps do.

    python -m load_tests.bench.peer_app --catalog ads.jsonl --model E5_DIR --port 8100
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import torch
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sentence_transformers import SentenceTransformer


class RankRequest(BaseModel):
    query: str = Field(min_length=1, max_length=2048)
    top_k: int = Field(10, ge=1, le=1000)


class RankedAd(BaseModel):
    ad_id: str
    rank: int
    score: float
    title: str


class RankResponse(BaseModel):
    query: str
    results: list[RankedAd]


def read_catalog(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def build_app(catalog: Path, model_dir: Path, threads: int = 1, encode_threads: int = 2,
              batch_size: int = 64) -> FastAPI:
    """Load the model, encode and index the catalog, and return the app (everything ready before it serves)."""
    torch.set_num_threads(encode_threads)
    model = SentenceTransformer(str(model_dir), device="cpu")
    ads = read_catalog(catalog)
    t0 = time.perf_counter()
    vectors = model.encode([f"passage: {a['title']} {a['description']}".strip() for a in ads],
                           batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    sys.stderr.write(f"peer: {len(ads)} ads encoded and indexed in {time.perf_counter() - t0:.1f} s\n")
    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)

    app = FastAPI(title="peer: sentence-transformers + FAISS + FastAPI")

    @app.get("/readyz")
    def ready() -> dict:
        return {"status": "ready", "index_size": index.ntotal}

    @app.post("/rank", response_model=RankResponse)
    def rank(req: RankRequest) -> RankResponse:
        q = model.encode([f"query: {req.query}"], normalize_embeddings=True, convert_to_numpy=True)
        scores, ids = index.search(np.ascontiguousarray(q, dtype=np.float32), min(req.top_k, index.ntotal))
        results = [RankedAd(ad_id=ads[i]["ad_id"], rank=r + 1, score=float(s), title=ads[i]["title"])
                   for r, (i, s) in enumerate(zip(ids[0], scores[0], strict=True)) if i >= 0]
        return RankResponse(query=req.query, results=results)

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, required=True, help="JSONL ads: ad_id, title, description")
    parser.add_argument("--model", type=Path, required=True, help="sentence-transformers or transformers dir")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--threads", type=int, default=1, help="PyTorch and FAISS threads while serving")
    parser.add_argument("--encode-threads", type=int, default=2, help="PyTorch threads encoding the catalog")
    args = parser.parse_args(argv)
    torch.set_num_interop_threads(1)
    app = build_app(args.catalog, args.model, args.threads, args.encode_threads)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
