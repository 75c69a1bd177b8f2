"""The floor part on the tiny exported int8 student and a tiny synthetic bundle: the tower against its bare-GEMM
twin, the index alone, and `twinrank serve` against the echo route through the same uvicorn stack, over real
HTTP; then the table, perf.json's summary key and floor.md."""

from __future__ import annotations

import numpy as np

from load_tests.bench.addendum_report import summary_keys, write_addenda
from load_tests.bench.floor import floor, gemm_shapes, gemm_twin
from load_tests.bench.retrieval import synthetic_vectors
from load_tests.bench.synthetic_bundle import build_synthetic_bundle
from service.runtime.onnx_model import make_session

QUERIES = ["laufschuhe damen", "winterjacke herren sale", "flug berlin", "garten möbel holz", "kredit online",
           "hotel hamburg mit frühstück", "fahrrad kinder 20 zoll", "auto versicherung günstig"]


def _event(op: str, a: list[int], out: list[int]) -> dict:
    return {"op_name": op, "input_type_shape": [{"float": a}], "output_type_shape": [{"float": out}]}


def test_gemm_shapes_count_batched_and_transposed_operands():
    assert gemm_shapes(_event("DynamicQuantizeMatMul", [1, 9, 384], [1, 9, 1536])) == ("int8", 1, 9, 384, 1536)
    assert gemm_shapes(_event("FusedMatMul", [1, 12, 9, 32], [1, 12, 9, 9])) == ("float", 12, 9, 32, 9)
    # A transposed (K before M): K still comes out of A's size
    assert gemm_shapes(_event("FusedMatMul", [1, 12, 32, 9], [1, 12, 9, 9])) == ("float", 12, 9, 32, 9)
    assert gemm_shapes(_event("LayerNormalization", [1, 9, 384], [1, 9, 384])) is None


def test_gemm_twin_runs_exactly_the_given_gemms():
    gemms = [("int8", 1, 5, 16, 32), ("float", 2, 5, 8, 5)]
    session = make_session(gemm_twin(gemms))
    rng = np.random.default_rng(0)
    out = session.run(None, {"a0": rng.integers(0, 256, (5, 16), dtype=np.uint8),
                             "a1": rng.standard_normal((2, 5, 8), dtype=np.float32),
                             "b1": rng.standard_normal((2, 8, 5), dtype=np.float32)})
    assert [o.shape for o in out] == [(5, 32), (2, 5, 5)] and out[0].dtype == np.int32
    assert [n.op_type for n in __import__("onnx").load_from_string(gemm_twin(gemms)).graph.node] == \
        ["MatMulInteger", "MatMul"]


def test_floor_part_on_a_tiny_bundle(model_dir, tmp_path):
    vec_path, _ = synthetic_vectors(tmp_path, 2000, dim=16, nq=5)
    root = tmp_path / "bundles"
    build_synthetic_bundle(root, model_dir, vec_path, factory="Flat")
    out = floor(tmp_path / "work", root, model_dir, QUERIES, None, rate=40, duration=1.5, repeats=1, warmup=0.5,
                n_encode=8, n_search=8, log=lambda _: None)

    enc = out["encode"]
    assert enc["queries"] == 8 and enc["floor_ms"] > 0 and enc["measured_ms"] > 0
    assert enc["gemm_nodes"]["int8"] > 0 and enc["macs_per_query"]["int8_median"] > 0
    shares = sum(v["ms"] for v in enc["profile"]["where_the_difference_goes"].values())
    assert abs(shares - max(enc["measured_ms"] - enc["floor_ms"], 0)) < 1e-2 or enc["measured_ms"] < enc["floor_ms"]

    srch = out["search"]
    assert srch["k"] == 100 and srch["n_ads"] == 2000 and srch["search_cpu_ms_mean"] > 0

    http = out["http"]
    (served,), (echo,) = http["served_runs"], http["echo_runs"]
    assert served["errors"] == {} and echo["errors"] == {} and echo["sent"] == served["sent"] > 0
    assert served["non_model_ms"] == round(served["cpu_ms_per_request"] - sum(served["by_stage"].values()), 4)
    assert {"query_encode", "candidates", "score"} == set(served["by_stage"])
    assert http["echo"]["body_bytes"] == http["json"]["response_bytes"] > 1000  # a real answer: its 10 ads
    assert echo["cpu_ms_per_request"] > 0

    rows = {r["key"]: r for r in out["table"]}
    assert list(rows) == ["encode", "search", "http_json", "score", "total"]
    assert rows["search"]["measured_ms"] == round(http["served"]["by_stage"]["candidates"], 3)
    assert rows["total"]["floor_ms"] == round(enc["floor_ms"] + srch["search_cpu_ms_mean"]
                                              + http["echo"]["cpu_ms_per_request"], 3)
    assert rows["score"]["floor_ms"] is None

    keys = summary_keys({"floor": out})
    assert keys["floor"]["total"]["measured_ms"] == rows["total"]["measured_ms"]
    written = write_addenda(tmp_path / "perf", {"floor": out})
    assert {p.name for p in written} == {"floor.json", "floor.md"}
    md = (tmp_path / "perf" / "floor.md").read_text()
    assert "| stage | measured ms | floor ms | ratio | where the difference goes |" in md
    assert "HTTP+JSON" in md and "GMAC/s" in md
