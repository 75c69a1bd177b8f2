"""The runtimes part on the tiny exported int8 student and a few made-up labelled rows: both runtimes timed
interleaved, the test AUC computed with each, the adopt rule applied; OpenVINO missing → skipped."""

import importlib.util
import json
from pathlib import Path

import pytest

from load_tests.bench.addendum_report import summary_keys, write_addenda
from load_tests.bench.encoder_runtimes import decide, encoder_runtimes

QUERIES = ["laufschuhe damen", "winterjacke herren", "flug berlin", "garten möbel holz", "kredit online",
           "hotel hamburg", "fahrrad kinder", "auto versicherung günstig"]
ADS = [("Laufschuhe für Damen", "Jetzt bestellen"), ("Winterjacke Herren", "Sale reduziert"),
       ("Flüge nach Berlin", "Günstig buchen"), ("Gartenmöbel aus Holz", "Versandkostenfrei"),
       ("Kredit vergleichen", "Online in Minuten"), ("Hotel in Hamburg", "Mit Frühstück")]


def _write_splits(d: Path) -> Path:
    d.mkdir()
    rows = [f"{q}\t{t}\t{desc}\t{'Good' if i % len(ADS) == j else 'Bad'}"
            for i, q in enumerate(QUERIES) for j, (t, desc) in enumerate(ADS[:3])]
    for split in ("train", "dev", "test"):
        (d / f"{split}.txt").write_text("\n".join(rows) + "\n")
    return d


needs_openvino = pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino not installed")


@needs_openvino
def test_both_runtimes_timed_and_scored(model_dir, tmp_path):
    qadsm = _write_splits(tmp_path / "qadsm")
    out = encoder_runtimes(tmp_path / "work", model_dir, qadsm, [], threads=1, n_timed=6, rounds=2)
    for rt in ("onnxruntime", "openvino"):
        for mode in ("tokenisation_excluded", "tokenisation_included"):
            st = out["encode"][rt][mode]
            assert st["queries"] == 12 and 0 < st["p50_ms"] <= st["p99_ms"]
        assert 0.0 <= out["auc"]["runtimes"][rt]["roc_auc"] <= 1.0
    # the same int8 graph in both runtimes: near-identical query vectors, so near-identical AUC. The tiny random
    # 32-wide model is more sensitive to the runtimes' int8 rounding than a trained one (0.985-0.995 seen here;
    # the shipped student's vectors: mean cosine 0.998, reports/perf/encoder_runtimes.md)
    assert out["auc"]["query_vectors_openvino_vs_onnxruntime"]["mean_cos"] > 0.97
    assert out["auc"]["rows"] == len(QUERIES) * 3 and out["auc"]["ad_vectors"]["got"] == 3
    d = out["decision"]
    assert d["adopt_openvino"] == (d["auc_equal_within_0.001"] and d["openvino_faster"])

    out["_meta"] = {"command": "twinrank bench --only runtimes"}
    written = write_addenda(tmp_path / "perf", {"encoder_runtimes": out})
    assert {p.name for p in written} == {"encoder_runtimes.json", "encoder_runtimes.md"}
    md = (tmp_path / "perf" / "encoder_runtimes.md").read_text()
    assert "load average" in md and "ROC-AUC" in md and "The bench switches nothing" in md
    assert json.loads((tmp_path / "perf" / "encoder_runtimes.json").read_text())["threads"] == 1
    assert "adopt_openvino" in summary_keys({"encoder_runtimes": out})["encoder_runtimes"]


def test_adopt_only_when_auc_equal_within_0001_and_faster():
    def times(ort_ms, ov_ms):
        st = lambda ms: {"p50_ms": ms, "cpu_p50_ms": ms}  # noqa: E731
        return {"onnxruntime": {"tokenisation_included": st(ort_ms), "tokenisation_excluded": st(ort_ms)},
                "openvino": {"tokenisation_included": st(ov_ms), "tokenisation_excluded": st(ov_ms)}}

    def auc(ort, ov):
        return {"runtimes": {"onnxruntime": {"roc_auc": ort}, "openvino": {"roc_auc": ov}}}

    assert decide(times(3.0, 2.0), auc(0.851, 0.8505))["adopt_openvino"] is True
    assert decide(times(3.0, 2.0), auc(0.851, 0.8495))["adopt_openvino"] is False  # AUC 0.0015 lower
    assert decide(times(3.0, 4.0), auc(0.851, 0.851))["adopt_openvino"] is False  # slower
    assert decide(times(3.0, 2.0), None)["adopt_openvino"] is None


def test_skipped_without_openvino(model_dir, tmp_path):
    if importlib.util.find_spec("openvino") is not None:
        pytest.skip("openvino is installed here; the skip path is for machines without it")
    out = encoder_runtimes(tmp_path, model_dir, None, QUERIES)
    assert out["skipped"].startswith("skipped: openvino not installed")
