"""One bundle loaded for serving: tokenizers, ONNX towers and head, FAISS index, ad table, vectors.

Loading is a straight line that fails loudly: verify (checksums, dims, ids) → open runtimes → warm-up
(a tiny encode + search + head). Any failure raises `BundleError` naming the file, and nothing is swapped.

Loaded beside the bundle being served (`previous`), a version takes over the parts whose files have the same
digests (see `model_parts`), from it or from the model it replaced (`SpareModel`, kept for a rollback): no new
ONNX session, and the query cache comes along when the query tower does. A new query tower instead encodes the
served cache's most recent queries before the swap, so its first seconds are not all cache misses.
Files that are the very ones `previous` verified (same inode, size and mtime: `index update` hard-links the
files it does not change) are not hashed again; the others are hashed in a helper process at the lowest
CPU priority.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from service.bundle import BundleError, Manifest, load_manifest, verify_contents
from service.bundle.hashing import hash_here, hash_low_priority
from service.ranker.ad_table import AdTable
from service.ranker.model_parts import ModelParts
from service.ranker.query_cache import QueryCache
from service.runtime.heads import calibrate, cos_logits
from service.runtime.index import AdIndex, AdVectors
from service.runtime.providers import faiss_gpus, ort_providers
from service.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)


FileStamp = tuple[str, int, int, int, int]  # (sha256, st_dev, st_ino, st_size, st_mtime_ns)
WARM_UP_QUERIES = 32  # recent cached query vectors searched on a new index before it is swapped in


def _stamp(path: Path, digest: str) -> FileStamp:
    st = path.stat()
    return digest, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


@dataclass(frozen=True)
class SpareModel:
    """The model side of a bundle that was swapped out for a new model: its parts, its query cache and the files
    it verified. The Ranker keeps the last one, so a rollback to that model takes it all over, as an ad-only
    update takes over the served one."""

    parts: ModelParts
    query_cache: QueryCache
    verified: dict[str, FileStamp]


def verified_copies(d: Path, m: Manifest, stamps: set[FileStamp]) -> dict[str, FileStamp]:
    """Files of version `d` that are the very files verified before (`stamps`: same digest, inode, size, mtime)."""
    out = {}
    for name, digest in m.files.items():
        try:
            stamp = _stamp(d / name, digest)
        except OSError:
            continue  # missing: verify_checksums names it
        if stamp in stamps:
            out[name] = stamp
    return out


class LoadedBundle:
    """Everything a request needs from one bundle version. Immutable after `load`; safe across threads."""

    def __init__(self, version_dir: Path, manifest: Manifest, settings: Settings,
                 ad_columns: pa.Table, previous: LoadedBundle | None = None, spare: SpareModel | None = None) -> None:
        """`ad_columns`: the ad table's serving columns as verification read them (`verify_contents`)."""
        d, m, s = version_dir, manifest, settings
        self.version_dir = d
        self.manifest = m
        self.version = m.bundle_version
        self.dim = m.model.dim
        self.ad_separator = m.model.ad_separator
        providers = ort_providers(s.device)
        self.providers = providers
        donors = [x for x in (previous.as_spare() if previous else None, spare) if x is not None]
        self.model = ModelParts.open(d, m, s, providers, tuple(x.parts for x in donors))
        query, ad = self.model.tower("query"), self.model.tower("ad")
        self.query_tokenizer, self.query_encoder = query.text, query.encoder
        self.ad_tokenizer, self.ad_encoder = ad.text, ad.encoder
        self.cos = (m.heads.cos.scale, m.heads.cos.bias)
        self.res = self.model.res
        c = m.calibration
        if c.head == "res" and self.res is None:
            raise BundleError(f"{d / 'manifest.json'}: calibration uses the res head, but heads.res is null", d,
                              reason="manifest")
        self.calibration = c
        # A new model over the very same ads (index, vectors and table files of equal digests) keeps them: no
        # index read, no table sort.
        same_ads = previous is not None and all(
            previous.manifest.files.get(getattr(previous.manifest.index, f)) == m.files[getattr(m.index, f)]
            for f in ("file", "vectors_file", "ads_file")) and previous.manifest.index == m.index
        if same_ads:
            assert previous is not None
            self.index, self.vectors, self.ads = previous.index, previous.vectors, previous.ads
        else:
            self.index = AdIndex(d / m.index.file, self.dim, m.index.n_ads, dict(m.index.search_params),
                                 faiss_gpus(s.device))
            self.vectors = AdVectors(d / m.index.vectors_file, self.dim, m.index.n_ads, m.index.vectors_dtype,
                                     m.index.vectors_scale)
            self.ads = AdTable.from_arrow(ad_columns)
        self.ads_taken_over = same_ads
        # Cached query vectors stay valid exactly when the query tower is the same one.
        carried = next((x.query_cache for x in donors if self.model.shares("query", x.parts)), None)
        self.query_cache = carried if carried is not None else QueryCache(s.query_cache_size)
        self.cache_carried = carried is not None
        self.verified: dict[str, FileStamp] = {}  # files of this version whose content is known to match
        self.hashed: list[str] = []  # the files `load` computed the sha256 of (the others were known already)
        self.warmed_queries = 0  # cached queries of the served bundle this one encoded before its swap

    @classmethod
    def load(cls, version_dir: Path, settings: Settings, previous: LoadedBundle | None = None,
             spare: SpareModel | None = None) -> LoadedBundle:
        """Verify, open and warm up a bundle version; raises `BundleError` naming the bad file. Beside a
        `previous` bundle (and the `spare` model), only what differs from them is hashed (in a helper at low
        priority) and opened."""
        t0 = time.perf_counter()
        d = version_dir
        manifest = load_manifest(d)
        try:
            # Even a file whose part is taken over from memory is checked (unless it is the very file verified
            # before): a damaged copy on disk would otherwise surface only when the service restarts.
            stamps = {*(previous.verified.values() if previous else ()), *(spare.verified.values() if spare else ())}
            known = verified_copies(d, manifest, stamps)
            ad_columns = verify_contents(d, manifest, set(known),
                                         hash_low_priority if previous is not None else hash_here)
            bundle = cls(d, manifest, settings, ad_columns, previous, spare)
            bundle.hashed = sorted(set(manifest.files) - set(known))
            bundle.verified = known | {name: _stamp(d / name, manifest.files[name]) for name in bundle.hashed}
        except BundleError:
            raise
        except Exception as exc:  # ORT, FAISS and pyarrow raise many types for a bad file; each is a refusal
            raise BundleError(f"{d}: {exc}", d, reason="unreadable") from exc
        if previous is not None and not bundle.cache_carried:
            bundle.warmed_queries = bundle.warm_cache(previous.query_cache, settings.swap_warm_queries,
                                                      settings.swap_warm_budget_s, settings.max_batch)
        if not bundle.ads_taken_over:
            bundle.vectors.map_pages()
        bundle.warm_up(bundle.query_cache.recent(WARM_UP_QUERIES) if previous is not None else [])
        log.info("loaded bundle %s (%d ads, %s) in %.2fs; took over from %s: %s; query cache %s", bundle.version,
                 bundle.size, "GPU" if bundle.index.on_gpu else "CPU", time.perf_counter() - t0,
                 previous.version if previous else "-", ", ".join(sorted(bundle.model.reused)) or "nothing",
                 "carried over" if bundle.cache_carried else f"warmed with {bundle.warmed_queries} queries")
        return bundle

    def as_spare(self) -> SpareModel:
        return SpareModel(self.model, self.query_cache, self.verified)

    def warm_cache(self, served: QueryCache, n: int, budget_s: float, batch: int) -> int:
        """Encode up to `n` of `served`'s most recent queries with this bundle's query tower (in batches of
        `batch`, for at most `budget_s`) into this bundle's cache, in their recency order; returns how many."""
        keys = served.recent_keys(min(n, self.query_cache.capacity))[::-1]  # oldest first: the LRU order
        deadline = time.perf_counter() + budget_s
        done = 0
        for start in range(0, len(keys), batch):
            if time.perf_counter() > deadline:
                break
            chunk = keys[start : start + batch]
            vecs, _, _ = self.encode_queries(chunk)
            for key, vec in zip(chunk, vecs, strict=True):
                self.query_cache.put(key, vec)
            done += len(chunk)
        return done

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

    def warm_up(self, queries: list[np.ndarray] | None = None) -> None:
        """A tiny encode + search + head, as readiness requires, then a search of each of `queries` (recent
        query vectors: the index pages real traffic needs are touched before the swap); errors become
        `BundleError`."""
        try:
            q, _, _ = self.encode_queries(["warm up"])
            self.ad_encoder(*self.ad_tokenizer(["warm up ad"]))
            if self.size:
                _, ids = self.index.search(q, min(4, self.size))
                rel = self.relevance(q[0], self.vectors.rows(ids[0][ids[0] >= 0]))
                if not np.isfinite(rel).all():
                    raise ValueError("non-finite relevance on the warm-up query")
                if queries:
                    _, ids = self.index.search(np.stack(queries), min(100, self.size))
                    self.vectors.rows(np.unique(ids[ids >= 0]))
        except Exception as exc:  # ORT raises its own types (not RuntimeError) for, e.g., a head of another width
            raise BundleError(f"{self.version_dir}: warm-up failed: {exc}", self.version_dir, reason="warm_up") from exc

    def close(self) -> None:
        """Drop this bundle's references (a query cache taken over by the next bundle lives on there)."""
        self.query_cache = QueryCache(0)
