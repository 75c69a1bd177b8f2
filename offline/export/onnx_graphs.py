"""TwinBERT → ONNX graphs: one per tower (pooling and projection inside) and the residual crossing head.

Uses the TorchScript exporter (`dynamo=False`): with transformers' BERT it gives one graph with dynamic batch
and sequence axes that matches PyTorch (every export is parity-checked, `parity.py`); the dynamo exporter
produced an invalid graph (duplicate output name) for the same module.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

OPSET = 17
TOWER_INPUTS = ("input_ids", "attention_mask")


class _ResHeadGraph(nn.Module):
    """The residual head with named inputs `q`, `a` and output `logit` (n,)."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, q: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.head(q, a)


def export_tower(tower: nn.Module, path: Path, sample: dict[str, torch.Tensor]) -> Path:
    """Write one tower as ONNX: int64 `input_ids`, `attention_mask` (batch, seq) → float32 `embedding`."""
    dynamic = {name: {0: "batch", 1: "seq"} for name in TOWER_INPUTS} | {"embedding": {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes
        torch.onnx.export(
            tower.eval(), (sample["input_ids"], sample["attention_mask"]), str(path), dynamo=False,
            input_names=list(TOWER_INPUTS), output_names=["embedding"], dynamic_axes=dynamic, opset_version=OPSET,
        )
    return path


def export_res_head(head: nn.Module, dim: int, path: Path) -> Path:
    """Write the residual head: float32 `q`, `a` (n, dim) → `logit` (n,)."""
    q = torch.nn.functional.normalize(torch.randn(3, dim), dim=-1)
    a = torch.nn.functional.normalize(torch.randn(3, dim), dim=-1)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _ResHeadGraph(head).eval(), (q, a), str(path), dynamo=False, input_names=["q", "a"],
            output_names=["logit"], dynamic_axes={"q": {0: "n"}, "a": {0: "n"}, "logit": {0: "n"}},
            opset_version=OPSET,
        )
    return path
