"""Benchmark part 3 on a small synthetic set: exact vs IVF, plus the served HNSW index, with recall."""

import faiss
import numpy as np

from load_tests.bench.retrieval import ann_label, retrieval, synthetic_vectors


def test_retrieval_measures_ivf_and_the_served_hnsw(tmp_path):
    n = 3000
    vec_path, _ = synthetic_vectors(tmp_path, n, nq=50)
    hnsw = faiss.index_factory(128, "HNSW32", faiss.METRIC_INNER_PRODUCT)
    hnsw.add(np.load(vec_path))
    faiss.write_index(hnsw, str(tmp_path / "ads.faiss"))

    out = retrieval(tmp_path, n=n, factory="IVF16,Flat", nprobes=(1, 16), n_timed=20, n_recall=20, k=10,
                    served_index=tmp_path / "ads.faiss", ef_searches=(16, 64))
    labels = [ann_label(a) for a in out["ann"]]
    assert labels[:2] == ["IVF16,Flat nprobe=1", "IVF16,Flat nprobe=16"]
    assert [a.get("efSearch") for a in out["ann"][2:]] == [16, 64]
    by_label = {ann_label(a): a for a in out["ann"]}
    assert by_label["IVF16,Flat nprobe=16"]["recall_at_10"] == 1.0  # every list probed: exact
    assert by_label["IVF16,Flat nprobe=1"]["recall_at_10"] < 1.0
    assert all(0.0 <= a["recall_at_10"] <= 1.0 and a["p50_ms"] > 0 for a in out["ann"])

    from load_tests.bench.report import write_perf

    write_perf(tmp_path / "perf", {"sections": {"retrieval": out}})
    md = (tmp_path / "perf" / "perf.md").read_text()
    assert "efSearch=64" in md and (tmp_path / "perf" / "retrieval.png").exists()
