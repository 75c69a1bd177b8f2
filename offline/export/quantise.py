"""int8: dynamic quantisation of an exported ONNX tower (and how closely it agrees with fp32), and the 8-bit
codes of unit ad vectors a bundle may store. Torch-free at import (index build and update use the codes).

Dynamic int8 quantises each MatMul's activations with one scale per tensor. The feed-forward down-projections
read the GELU's output, whose few large values make that scale coarse for all the rest: on the distilled
student's 12-layer ad tower they carry most of int8's ROC-AUC loss (trimmed export, int8 query tower, cos head,
dev: all-int8 ad tower 0.8680, fp32 0.8707, 0.8700 with only those 12 MatMuls left in float). So they stay in
float, their weights stored as fp16 and widened once when the session loads (ONNX Runtime folds the Cast),
which keeps the file near int8 size.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx

    from models.twinbert import TwinBERT

INT8_SCALE = 1.0 / 127.0
GELU_OPS = frozenset({"Erf", "Gelu", "FastGelu", "BiasGelu"})
_GELU_DEPTH = 3  # Erf → Add → Mul → Mul: the exported GELU ends three nodes after its Erf


def quantize_vectors(v: np.ndarray) -> np.ndarray:
    """Uniform 8-bit codes of unit vectors (coordinates in [-1, 1]): code = round(v · 127)."""
    return np.clip(np.rint(v / INT8_SCALE), -127, 127).astype(np.int8)


def gelu_fed_matmuls(model: onnx.ModelProto) -> list[str]:
    """Names of the MatMuls whose activation input is a GELU's output (the feed-forward down-projections)."""
    producer = {out: node for node in model.graph.node for out in node.output}

    def after_gelu(tensor: str, depth: int) -> bool:
        node = producer.get(tensor)
        if node is None or depth < 0:
            return False
        return node.op_type in GELU_OPS or any(after_gelu(t, depth - 1) for t in node.input)

    return [n.name for n in model.graph.node if n.op_type == "MatMul" and after_gelu(n.input[0], _GELU_DEPTH)]


def store_weights_fp16(model: onnx.ModelProto, matmuls: list[str]) -> int:
    """Store the constant weights of `matmuls` as fp16 behind a Cast to float; returns the weights converted."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    casts = []
    for node in model.graph.node:
        if node.name not in matmuls or node.input[1] not in inits:
            continue
        w = inits[node.input[1]]
        if w.data_type != TensorProto.FLOAT:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(w).astype(np.float16), w.name + "_fp16")
        model.graph.initializer.remove(w)
        model.graph.initializer.append(half)
        casts.append(helper.make_node("Cast", [half.name], [w.name], name=w.name + "_to_float",
                                      to=TensorProto.FLOAT))
    for cast in reversed(casts):
        model.graph.node.insert(0, cast)
    onnx.checker.check_model(model)
    return len(casts)


def quantize_int8(src: Path, dst: Path, float_gelu_matmuls: bool = False) -> Path:
    """Dynamic int8 (weights int8, activations quantised at run time) of an ONNX tower; with
    `float_gelu_matmuls`, the GELU-fed MatMuls stay float with fp16-stored weights (see the module docstring)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep_float = gelu_fed_matmuls(onnx.load(src, load_external_data=False)) if float_gelu_matmuls else []
    quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=keep_float)
    if keep_float:
        model = onnx.load(dst)
        store_weights_fp16(model, keep_float)
        onnx.save(model, dst)
    return dst


def int8_agreement(fp32_path: Path, int8_path: Path, model: TwinBERT, route: str) -> float:
    """Mean cosine between fp32 and int8 ONNX embeddings of the sample texts (a sanity figure, not a gate)."""
    from offline.export.parity import SAMPLE_TEXTS
    from service.runtime.onnx_model import make_session

    feats = {k: v.numpy() for k, v in model.tokenizer(route)(SAMPLE_TEXTS).items()}
    a = make_session(fp32_path).run(["embedding"], feats)[0]
    b = make_session(int8_path).run(["embedding"], feats)[0]
    return float(np.mean(np.sum(a * b, axis=1) / np.linalg.norm(b, axis=1)))
