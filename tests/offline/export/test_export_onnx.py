"""ONNX export: parity with PyTorch before and after save/reload, int8 variant, run-dir loading, QADSM eval."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from models.twinbert import TwinBERT
from offline.errors import ExportError
from offline.export.model_dir import export_model, load_run, read_model_dir
from offline.export.quality import evaluate_model_dir, read_qadsm
from service.runtime.onnx_model import make_session
from service.runtime.towers import OnnxTower
from tests.utils.bundles import WORDS, tiny_twinbert

TEXTS = ["laufschuhe damen", "Wohnung mieten ohne Makler in Berlin", "x", " ".join(WORDS * 6)]


@pytest.fixture(scope="module")
def model(tiny_base_dir: Path) -> TwinBERT:
    torch.set_num_threads(1)
    return tiny_twinbert(tiny_base_dir)


@pytest.fixture(scope="module")
def exported(model: TwinBERT, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_model(model, tmp_path_factory.mktemp("exp") / "de", int8=True)


def _onnx(d: Path, route: str, texts: list[str], model: TwinBERT, int8: bool = False) -> np.ndarray:
    info = json.loads((d / "model.json").read_text())
    return OnnxTower(d / info["encoders"][route]["int8" if int8 else "fp32"], d / "tokenizer.json",
                     info[f"{route}_prefix"], info[f"{route}_max_len"]).encode(texts)


def _torch(model: TwinBERT, route: str, texts: list[str]) -> np.ndarray:
    with torch.no_grad():
        return model.encode(route, texts).numpy()


def test_parity_with_pytorch(model: TwinBERT, exported: Path) -> None:
    info = read_model_dir(exported)
    assert all(v <= 1e-4 for v in info["parity_max_abs_diff"].values())
    for route in ("query", "ad"):
        for batch in (TEXTS, TEXTS[1:2]):  # dynamic batch and sequence axes
            assert np.abs(_onnx(exported, route, batch, model) - _torch(model, route, batch)).max() <= 1e-4
    q, a = (torch.nn.functional.normalize(torch.randn(5, model.dim), dim=-1) for _ in range(2))
    with torch.no_grad():
        ref = model.res_head(q, a).numpy()
    out = make_session(exported / "res_head.onnx").run(["logit"], {"q": q.numpy(), "a": a.numpy()})[0]
    assert out.shape == (5,) and np.abs(out - ref).max() <= 1e-4
    assert not np.allclose(ref, model.cos_head(q, a).detach().numpy(), atol=1e-3)  # the test can tell res from cos


def test_parity_after_save_and_reload(model: TwinBERT, exported: Path, tmp_path: Path) -> None:
    model.save(tmp_path / "ckpt")
    reloaded = TwinBERT.load(tmp_path / "ckpt")
    again = export_model(reloaded, tmp_path / "de2", int8=False)
    for route in ("query", "ad"):
        ref = _torch(reloaded, route, TEXTS)
        assert np.abs(_onnx(again, route, TEXTS, reloaded) - ref).max() <= 1e-4
        assert np.abs(_onnx(exported, route, TEXTS, model) - ref).max() <= 1e-4


def test_int8_runs_and_stays_close(model: TwinBERT, exported: Path) -> None:
    v8 = _onnx(exported, "ad", TEXTS, model, int8=True)
    v32 = _onnx(exported, "ad", TEXTS, model)
    assert v8.shape == v32.shape and np.allclose(np.linalg.norm(v8, axis=1), 1, atol=1e-3)
    assert (np.sum(v8 * v32, axis=1) > 0.9).all()
    assert (exported / "ad_encoder.int8.onnx").stat().st_size < (exported / "ad_encoder.onnx").stat().st_size


def test_model_json_and_refusals(model: TwinBERT, exported: Path, tmp_path: Path) -> None:
    info = read_model_dir(exported)
    assert info["calibration"] == {"head": "res", "kind": "identity", "a": 1.0, "b": 0.0}
    assert info["dim"] == 16 and info["heads"]["cos"]["scale"] == pytest.approx(model.cos_head.scale.item())
    with pytest.raises(ExportError, match="exists"):
        export_model(model, exported)
    damaged = Path(shutil.copytree(exported, tmp_path / "damaged"))
    (damaged / "res_head.onnx").write_bytes(b"broken")
    with pytest.raises(ExportError, match="res_head.onnx"):
        read_model_dir(damaged)


def test_load_run_dir_with_calibration(model: TwinBERT, tmp_path: Path) -> None:
    model.save(tmp_path / "run" / "student_kd")
    cal = {"head": "res", "kind": "platt", "a": 0.7, "b": -0.3}
    (tmp_path / "run" / "calibration.json").write_text(json.dumps(cal))
    loaded, calibration, _ = load_run(tmp_path / "run")
    assert calibration.model_dump() == cal and loaded.dim == model.dim
    (tmp_path / "run" / "calibration.json").write_text(json.dumps({"head": "res", "kind": "magic"}))
    with pytest.raises(ExportError, match="calibration"):
        load_run(tmp_path / "run")
    with pytest.raises(ExportError, match="twinbert.json"):
        load_run(tmp_path)


def test_qadsm_eval_matches_sklearn_on_pytorch_scores(model: TwinBERT, exported: Path, tmp_path: Path) -> None:
    from sklearn.metrics import roc_auc_score

    rng = random.Random(3)
    lines = ["\t".join([" ".join(rng.sample(WORDS, 2)), " ".join(rng.sample(WORDS, 3)), " ".join(rng.sample(WORDS, 4)),
                        rng.choice(["Good", "Bad"])]) for _ in range(40)]
    path = tmp_path / "test.txt"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())  # CRLF, as the real test.txt
    queries, ads, y = read_qadsm(path)
    assert len(y) == 40 and not any(a.endswith("\r") for a in ads)
    report = evaluate_model_dir(exported, path)
    with torch.no_grad():
        logits = model.res_head(model.encode("query", queries), model.encode("ad", ads)).numpy()
    assert report["auc_fp32"]["res"] == pytest.approx(roc_auc_score(y, logits), abs=1e-6)
    assert {"auc_int8", "int8_auc_loss", "auc_fp32_towers_8bit_ad_vectors", "vec8_auc_loss"} <= report.keys()
    path.write_text("only\tthree\tfields\n")
    with pytest.raises(ExportError, match="line 1"):
        read_qadsm(path)


def test_ad_tower_keeps_its_gelu_fed_matmuls_float_with_fp16_weights(exported: Path, model: TwinBERT) -> None:
    import onnx

    from offline.export.quantise import gelu_fed_matmuls

    info = read_model_dir(exported)
    assert info["int8_float_gelu_matmuls"] == ["ad"]
    fp32 = onnx.load(exported / info["encoders"]["ad"]["fp32"])
    ffn_out = gelu_fed_matmuls(fp32)
    n_layers = model.tower("ad").encoder.config.num_hidden_layers
    assert len(ffn_out) == n_layers and all(name.endswith("/output/dense/MatMul") for name in ffn_out)
    ad = onnx.load(exported / info["encoders"]["ad"]["int8"])
    nodes = {n.name: n for n in ad.graph.node}
    halves = {t.name for t in ad.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16}
    assert all(nodes[name].op_type == "MatMul" for name in ffn_out)  # left float, not MatMulInteger
    assert len(halves) == n_layers
    query = onnx.load(exported / info["encoders"]["query"]["int8"])
    assert not any(t.data_type == onnx.TensorProto.FLOAT16 for t in query.graph.initializer)
    ref = _onnx(exported, "ad", TEXTS, model)
    got = _onnx(exported, "ad", TEXTS, model, int8=True)
    # int8 keeps the tiny random tower's direction only roughly (0.96-0.99 seen across runs on an AVX2-only host,
    # where ORT's u8s8 kernels round differently); the trained towers agree to 0.998 (model.json int8_mean_cos_vs_fp32)
    assert np.sum(ref * got, axis=1).min() > 0.93
