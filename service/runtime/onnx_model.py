"""ONNX Runtime sessions, the one place they are made: the service, the bundle checks, the offline parity and
quality checks and the benchmarks all run graphs through `make_session`, so they run what the service runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

TOWER_INPUTS = ("input_ids", "attention_mask")
CPU = ["CPUExecutionProvider"]


def make_session(path: str | Path | bytes, intra_threads: int = 1, providers: list[str] | None = None,
                 inter_threads: int = 1, profile_prefix: str | None = None) -> ort.InferenceSession:
    """A session with fixed thread counts (the machine is shared) and full graph optimisation; `path` may be a
    serialised graph. `profile_prefix` turns ONNX Runtime's profiler on (the benchmark's op breakdown)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_threads
    opts.inter_op_num_threads = inter_threads
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle intra-op threads otherwise spin, burning CPU between requests on a small machine (reports/perf).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile_prefix is not None:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, sess_options=opts, providers=providers or CPU)


class OnnxModel:
    """One ONNX graph; `run(**inputs)` returns its first output as a numpy array."""

    def __init__(self, path: Path, providers: list[str], intra_threads: int, inter_threads: int,
                 expected_inputs: tuple[str, ...]) -> None:
        try:
            self.session = make_session(path, intra_threads, providers, inter_threads)
        except Exception as exc:  # ORT raises several exception types for unreadable graphs
            raise ValueError(f"{path.name}: ONNX Runtime cannot load it: {exc}") from exc
        names = tuple(i.name for i in self.session.get_inputs())
        if set(names) != set(expected_inputs):
            raise ValueError(f"{path.name}: inputs are {names}, expected {expected_inputs}")
        self.output = self.session.get_outputs()[0].name
        self.path = path

    def run(self, **inputs: np.ndarray) -> np.ndarray:
        return self.session.run([self.output], inputs)[0]


class TowerEncoder:
    """An exported tower: (input_ids, attention_mask) → L2-normalised float32 (n, dim); `dim=None` skips the
    width check (offline callers that learn the width from the output)."""

    def __init__(self, model: OnnxModel, dim: int | None) -> None:
        self.model = model
        self.dim = dim

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = np.asarray(self.model.run(input_ids=ids, attention_mask=mask), dtype=np.float32)
        if out.ndim != 2 or (self.dim is not None and out.shape[1] != self.dim):
            raise ValueError(f"{self.model.path.name}: output shape {out.shape}, expected (n, {self.dim})")
        return out
