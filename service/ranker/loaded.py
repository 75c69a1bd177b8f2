"""One bundle loaded for serving: tokenizers, ONNX towers and head, FAISS index, ad table, vectors.

Loading is a straight line that fails loudly: verify (checksums, dims, ids) → open runtimes → warm-up
(a tiny encode + search + head). Any failure raises `BundleError` naming the file, and nothing is swapped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.bundle import BundleError, Manifest, verify_files
from service.ranker.query_cache import QueryCache
from service.runtime.heads import ResHead, calibrate, cos_logits
from service.runtime.index import AdIndex, AdVectors
from service.runtime.onnx_model import OnnxModel
from service.runtime.providers import faiss_gpus, ort_providers
from service.runtime.towers import OnnxTower
from service.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class AdTable:
    """The ad table's serving columns; row i ↔ FAISS id i ↔ stored vector i."""

    ad_ids: list[str]
    bid: np.ndarray  # float64 (n,)
    p_click: np.ndarray  # float64 (n,)
    row_of: dict[str, int]

    @classmethod
    def read(cls, path: Path) -> AdTable:
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=["ad_id", "bid", "p_click"])
        ids = [str(x) for x in table.column("ad_id").to_pylist()]
        return cls(ids, table.column("bid").to_numpy().astype(np.float64),
                   table.column("p_click").to_numpy().astype(np.float64), {a: i for i, a in enumerate(ids)})


class LoadedBundle:
    """Everything a request needs from one bundle version. Immutable after `load`; safe across threads."""

    def __init__(self, version_dir: Path, manifest: Manifest, settings: Settings) -> None:
        d, m, s = version_dir, manifest, settings
        self.version_dir = d
        self.manifest = m
        self.version = m.bundle_version
        self.dim = m.model.dim
        self.ad_separator = m.model.ad_separator
        providers = ort_providers(s.device)
        self.providers = providers

        def tower(route: str) -> OnnxTower:
            return OnnxTower.from_manifest(d, m, route, s.encoder_precision == "int8", s.ort_intra_op_threads,
                                           providers, s.ort_inter_op_threads)

        query, ad = tower("query"), tower("ad")
        self.query_tokenizer, self.query_encoder = query.text, query.encoder
        self.ad_tokenizer, self.ad_encoder = ad.text, ad.encoder
        self.cos = (m.heads.cos.scale, m.heads.cos.bias)
        self.res = None
        if m.heads.res is not None:
            self.res = ResHead(OnnxModel(d / m.heads.res.file, providers, s.ort_intra_op_threads,
                                         s.ort_inter_op_threads, ("q", "a")))
        c = m.calibration
        if c.head == "res" and self.res is None:
            raise BundleError(f"{d / 'manifest.json'}: calibration uses the res head, but heads.res is null", d)
        self.calibration = c
        self.index = AdIndex(d / m.index.file, self.dim, m.index.n_ads, dict(m.index.search_params),
                             faiss_gpus(s.device))
        self.vectors = AdVectors(d / m.index.vectors_file, self.dim, m.index.n_ads, m.index.vectors_dtype,
                                 m.index.vectors_scale)
        self.ads = AdTable.read(d / m.index.ads_file)
        self.query_cache = QueryCache(s.query_cache_size)

    @classmethod
    def load(cls, version_dir: Path, settings: Settings) -> LoadedBundle:
        """Verify, open and warm up a bundle version; raises `BundleError` naming the bad file."""
        t0 = time.perf_counter()
        manifest = verify_files(version_dir)
        try:
            bundle = cls(version_dir, manifest, settings)
        except (ValueError, RuntimeError, OSError, KeyError) as exc:
            raise BundleError(f"{version_dir}: {exc}", version_dir) from exc
        bundle.warm_up()
        log.info("loaded bundle %s (%d ads, %s) in %.2fs", bundle.version, bundle.size,
                 "GPU" if bundle.index.on_gpu else "CPU", time.perf_counter() - t0)
        return bundle

    @property
    def size(self) -> int:
        return self.index.size

    def encode_queries(self, texts: list[str]) -> tuple[np.ndarray, float, float]:
        """Query vectors (n, dim) and the (tokenize, encode) seconds it took."""
        t0 = time.perf_counter()
        ids, mask = self.query_tokenizer(texts)
        t1 = time.perf_counter()
        vecs = self.query_encoder(ids, mask)
        return vecs, t1 - t0, time.perf_counter() - t1

    def encode_ads(self, texts: list[str], batch: int) -> tuple[np.ndarray, float, float]:
        """Ad vectors (n, dim) in batches of `batch`, with the (tokenize, encode) seconds."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        t_tok = t_enc = 0.0
        for start in range(0, len(texts), batch):
            t0 = time.perf_counter()
            ids, mask = self.ad_tokenizer(texts[start : start + batch])
            t1 = time.perf_counter()
            out[start : start + batch] = self.ad_encoder(ids, mask)
            t_tok, t_enc = t_tok + (t1 - t0), t_enc + (time.perf_counter() - t1)
        return out, t_tok, t_enc

    def relevance(self, q: np.ndarray, ads: np.ndarray) -> np.ndarray:
        """Calibrated relevance (n,) of unit query vector q (dim,) against ad vectors (n, dim)."""
        if len(ads) == 0:
            return np.zeros(0)
        if self.calibration.head == "res" and self.res is not None:
            logits = self.res(q, ads)
        else:
            logits = cos_logits(q, ads, *self.cos)
        return calibrate(logits, self.calibration)

    def warm_up(self) -> None:
        """A tiny encode + search + head, as readiness requires; errors become `BundleError`."""
        try:
            q, _, _ = self.encode_queries(["warm up"])
            self.ad_encoder(*self.ad_tokenizer(["warm up ad"]))
            if self.size:
                _, ids = self.index.search(q, min(4, self.size))
                rel = self.relevance(q[0], self.vectors.rows(ids[0][ids[0] >= 0]))
                if not np.isfinite(rel).all():
                    raise ValueError("non-finite relevance on the warm-up query")
        except (ValueError, RuntimeError) as exc:
            raise BundleError(f"{self.version_dir}: warm-up failed: {exc}", self.version_dir) from exc

    def close(self) -> None:
        """Drop runtime handles (ORT sessions, FAISS index) so their memory goes back."""
        self.query_cache.clear()
