"""The benchmark's 1M-ad bundle: the exported student (real ONNX query tower, tokenizer, residual head) over a
synthetic catalog. Ad rows are generated; ad vectors are `retrieval.synthetic_vectors` (encoding 1M ads with
the 12-layer ad tower would take hours on two cores). It is published with the project's own bundle writer
(`offline.publish`), so the service loads it like any other.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

E2E_FACTORY = "HNSW32,SQ8"  # what `twinrank index build` picks for a catalog this size (a test checks)
_TITLES = ["{h} kaufen", "{h} im Angebot", "Top {h} guenstig", "{h} online bestellen", "{h} Vergleich 2024"]
_DESCS = ["Grosse Auswahl, schnelle Lieferung.", "Kostenloser Versand ab 20 Euro.", "Jetzt sparen!",
          "Bis zu 50% reduziert. Nur heute.", "Testsieger im Vergleich."]


def write_ad_table(path: Path, n: int, seed: int = 0, block: int = 200_000) -> None:
    """A synthetic ad table (ad_id, title, description, bid, p_click) of `n` rows, streamed in blocks."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from load_tests.generator.queries import HEAD_WORDS

    rng = np.random.default_rng(seed)
    writer = None
    try:
        for start in range(0, n, block):
            m = min(block, n - start)
            heads = rng.integers(0, len(HEAD_WORDS), m)
            tpl = rng.integers(0, len(_TITLES), m)
            desc = rng.integers(0, len(_DESCS), m)
            table = pa.table({
                "ad_id": pa.array([f"ad-{i:07d}" for i in range(start, start + m)], pa.string()),
                "title": pa.array([_TITLES[t].format(h=HEAD_WORDS[h]) for t, h in zip(tpl, heads, strict=True)]),
                "description": pa.array([_DESCS[d] for d in desc]),
                "bid": pa.array(np.round(rng.uniform(0.05, 2.0, m), 3), pa.float64()),
                "p_click": pa.array(np.round(rng.uniform(0.001, 0.1, m), 4), pa.float64()),
            })
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def build_synthetic_bundle(root: Path, student_dir: Path, vectors_path: Path, factory: str = E2E_FACTORY,
                           keep: int = 1) -> Path:
    """Publish (or reuse, when CURRENT already matches) a bundle of the student + synthetic ads/vectors.

    A new student over the same vectors and index kind reuses CURRENT's index and ad table (hard links), so
    switching students costs seconds, not an index build (1M ads: about 2.5 minutes here).
    """
    from offline.export.model_dir import MODEL_JSON, read_model_dir
    from offline.publish.bundle_writer import link_or_copy, new_staging_dir, publish
    from offline.publish.index_build import copy_model_files, manifest_fields, write_index
    from service.bundle import VECTORS_FILE, BundleError, current_version_dir, load_manifest

    vectors = np.load(vectors_path, mmap_mode="r")
    n = vectors.shape[0]
    info = read_model_dir(student_dir)
    model_files = {name: digest for name, digest in info["files"].items() if name != MODEL_JSON}
    reusable = None  # CURRENT's directory and index fields, when its index was built over these very vectors
    try:
        cur = current_version_dir(root)
        m = load_manifest(cur)
        same_model = all(m.files.get(name) == digest for name, digest in model_files.items())
        same_index = (m.index.n_ads == n and m.index.factory == factory
                      and _same_vectors(cur / VECTORS_FILE, m.files.get(VECTORS_FILE), vectors_path))
        if same_index and same_model:
            return cur
        if same_index:
            reusable = cur, m.index
    except (BundleError, OSError, ValueError):  # no bundle yet, or an unreadable one: build a fresh version
        pass
    if info["dim"] != vectors.shape[1]:
        raise ValueError(f"student dim {info['dim']} != synthetic vector dim {vectors.shape[1]}")
    staging = new_staging_dir(root)
    try:
        copy_model_files(student_dir, info, staging)
        link_or_copy(vectors_path, staging / VECTORS_FILE)
        if reusable is not None:
            cur, index = reusable
            for name in (index.file, index.ads_file):
                link_or_copy(cur / name, staging / name)
            index_info = index.model_dump()
        else:
            write_ad_table(staging / "ads.parquet", n)
            index_info = write_index(staging, vectors, factory, "float32", "cpu")
        fields = manifest_fields(info, index_info)
        fields["model"]["metrics"] = {"note": f"benchmark bundle: the student of {student_dir.name}, "
                                              f"synthetic {n:,}-ad catalog"}
        return publish(staging, fields, parent=None, force=True, keep=keep)  # a bench root: replace what is there
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise


def _same_vectors(stored: Path, stored_digest: str | None, vectors_path: Path) -> bool:
    """Whether a bundle's stored vectors (`stored`, sha256 `stored_digest` in its manifest) are the file at
    `vectors_path`: a hard link of it, or equal bytes."""
    from service.bundle.layout import sha256_file

    if stored.exists() and os.path.samefile(stored, vectors_path):
        return True
    return stored_digest == sha256_file(vectors_path)
