"""Pooled teacher vectors for every distinct query and ad text, computed once and kept on disk.

The student's ad tower is the teacher's ad tower (frozen), so these pooled ad states are also the
student's ad features; pooled query states are the targets of the query tower's alignment loss.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.twinbert import TwinBERT
from offline.distill.encode import torch_encode


@dataclass
class TextVectors:
    texts: list[str]
    vectors: np.ndarray  # (n, hidden) pooled, before projection/normalisation

    def __post_init__(self) -> None:
        self.row = {t: i for i, t in enumerate(self.texts)}

    def rows(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self.row]
        if missing:
            raise KeyError(f"{len(missing)} texts have no cached vector, e.g. {missing[0]!r}")
        return np.fromiter((self.row[t] for t in texts), dtype=np.int64, count=len(texts))

    def save(self, path: Path) -> None:
        np.save(path.with_suffix(".npy"), self.vectors)
        path.with_suffix(".json").write_text(json.dumps(self.texts, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> TextVectors:
        return cls(json.loads(path.with_suffix(".json").read_text()), np.load(path.with_suffix(".npy")))


def encode_pooled(model: TwinBERT, route: str, texts: list[str], label: str = "teacher") -> TextVectors:
    """Pooled states of the distinct `texts` through `model`'s `route` tower."""
    unique = list(dict.fromkeys(texts))
    return TextVectors(unique, torch_encode(model.tower(route), model.tokenizer(route), unique, pooled=True,
                                            desc=f"{label} {route} texts"))


def logits_from_pooled(model: TwinBERT, q_pooled: np.ndarray, a_pooled: np.ndarray) -> dict[str, np.ndarray]:
    """Logits of every head for aligned rows of pooled query/ad states (projection + normalisation applied here)."""
    out: dict[str, list[np.ndarray]] = {"cos": [], "res": []}
    with torch.no_grad():
        for s in range(0, len(q_pooled), 8192):
            q = model.query_tower.project(torch.from_numpy(q_pooled[s : s + 8192]))
            a = model.ad_tower.project(torch.from_numpy(a_pooled[s : s + 8192]))
            for name, logit in model.heads(q, a).items():
                out[name].append(logit.float().numpy())
    return {k: np.concatenate(v) if v else np.zeros(0, dtype=np.float32) for k, v in out.items()}
