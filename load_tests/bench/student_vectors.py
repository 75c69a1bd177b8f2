"""Real ad and query vectors from an exported student (`twinrank export` model dir, e.g. shipped/twinbert-de),
for the retrieval-library and encoder-runtime parts: synthetic low-dimension vectors flatter every index.

Ads: the distinct ads of the QADSM test, dev and train files (in that order, read by path), then the project's
sample catalog to reach the asked size. Encoding is the slow step (the 12-layer ad tower is ~20 ms per ad on
a loaded 2-core machine), so vectors are cached under the work directory in chunks as they are made, a
time budget may stop early (a rerun resumes), and the report says how many ads there were.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from common.files import write_json

SPLITS = ("test", "dev", "train")
CHUNK = 512


def model_key(model_dir: Path, route: str) -> str:
    """A short hash of one tower's ONNX file: cached vectors belong to exactly one graph."""
    info = json.loads((model_dir / "model.json").read_text())
    name = info["encoders"][route].get("int8") or info["encoders"][route]["fp32"]
    h = hashlib.sha256()
    with (model_dir / name).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def tower(model_dir: Path, route: str, threads: int):
    """The model dir's int8 tower (fp32 when no int8 was exported) for `route`, as the service runs it."""
    from service.runtime.towers import OnnxTower

    info = json.loads((model_dir / "model.json").read_text())
    name = info["encoders"][route].get("int8") or info["encoders"][route]["fp32"]
    return OnnxTower(model_dir / name, model_dir / "tokenizer.json", info[f"{route}_prefix"],
                     info[f"{route}_max_len"], threads, dim=info["dim"])


def catalog_texts(qadsm_dir: Path | None, n: int) -> tuple[list[str], dict]:
    """Up to `n` distinct ad texts: QADSM ads first (test, dev, train), then sample-catalog ads."""
    from offline.data.sample_catalog import sample_ads
    from service.bundle.manifest import ad_text

    texts: dict[str, None] = {}
    counts: dict[str, int] = {}
    for split in SPLITS if qadsm_dir else ():
        from offline.data.qadsm import pair_ad_texts, read_tsv

        before = len(texts)
        texts.update(dict.fromkeys(pair_ad_texts(read_tsv(qadsm_dir / f"{split}.txt"))))
        counts[f"qadsm_{split}"] = len(texts) - before
    missing = n - len(texts)
    if missing > 0:
        before = len(texts)
        texts.update(dict.fromkeys(ad_text(a["title"], a["description"]) for a in sample_ads(missing + 1000)))
        counts["sample_catalog"] = min(len(texts) - before, missing)
    return list(texts)[:n], counts


class VectorCache:
    """Vectors of texts in a fixed order, appended chunk by chunk under `dir` (texts.json + vectors.npy)."""

    def __init__(self, dir: Path) -> None:
        self.dir = dir
        self.texts: list[str] = []
        self.vectors = np.empty((0, 0), dtype=np.float32)
        if (dir / "texts.json").exists() and (dir / "vectors.npy").exists():
            texts = json.loads((dir / "texts.json").read_text())
            vectors = np.load(dir / "vectors.npy")
            if len(texts) == len(vectors):
                self.texts, self.vectors = texts, vectors

    def extend(self, texts: list[str], vectors: np.ndarray) -> None:
        self.texts += texts
        self.vectors = vectors if not len(self.vectors) else np.concatenate([self.vectors, vectors])
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / "vectors.tmp.npy"
        np.save(tmp, self.vectors)
        tmp.replace(self.dir / "vectors.npy")
        write_json(self.dir / "texts.json", self.texts)


def encode_cached(model_dir: Path, route: str, texts: list[str], work: Path, threads: int = 2,
                  budget_s: float = 0.0, log=None) -> tuple[np.ndarray, dict]:
    """Vectors of `texts` in order, encoding only those not cached; stops after `budget_s` seconds of encoding
    (0: no limit) and then returns the vectors of the leading texts it has. The cache is per tower graph and
    keeps one text order (`catalog_texts`' order extends with the size asked, and a shorter ask reads a prefix
    of a longer cache; another order starts afresh)."""
    cache = VectorCache(work / "student_vectors" / f"{route}-{model_key(model_dir, route)}")
    common = min(len(cache.texts), len(texts))
    if cache.texts[:common] != texts[:common]:  # another text order (another data set): start afresh
        cache.texts, cache.vectors = [], np.empty((0, 0), dtype=np.float32)
    cached = min(len(cache.texts), len(texts))
    t0, encoded = time.perf_counter(), 0
    if cached < len(texts):
        enc = tower(model_dir, route, threads)
        for i in range(cached, len(texts), CHUNK):
            if budget_s and encoded and time.perf_counter() - t0 > budget_s:  # at least one chunk per run
                break
            chunk = texts[i:i + CHUNK]
            cache.extend(chunk, enc.encode_sorted(chunk, batch_size=64))
            encoded += len(chunk)
            if log:
                log(f"{route} vectors: {len(cache.texts)}/{len(texts)} "
                    f"({(time.perf_counter() - t0) / encoded * 1000:.1f} ms per text this run)")
    have = min(len(cache.texts), len(texts))
    secs = time.perf_counter() - t0
    return cache.vectors[:have], {"asked": len(texts), "got": have, "from_cache": cached, "encoded_now": encoded,
                                  "encode_seconds_now": round(secs, 1), "threads": threads,
                                  "ms_per_text_now": round(secs / encoded * 1000, 2) if encoded else None}


def test_queries(qadsm_dir: Path) -> list[str]:
    """The distinct queries of the QADSM test split, in first-seen order."""
    from offline.data.qadsm import read_tsv

    return list(dict.fromkeys(read_tsv(qadsm_dir / "test.txt").query))
