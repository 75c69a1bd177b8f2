"""Batched PyTorch encoding of texts with a tower, two-tower scoring of pairs that encodes each text once, and
pooled vectors of distinct texts kept on disk (`TextVectors`).

The student's ad tower is the teacher's ad tower (frozen), so the teacher's pooled ad states are also the
student's ad features; pooled query states are the targets of the query tower's alignment loss.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from models.text import TextTokenizer
from models.tower import Tower
from models.twinbert import TwinBERT
from offline.data.qadsm import Pairs, pair_ad_texts, unique_index

ENCODE_BATCH = 128


def length_order(texts: list[str]) -> np.ndarray:
    """The order `torch_encode` batches `texts` in: by length (less padding), ties in input order. The Ray score
    stage cuts its shards from this order at batch boundaries, so its batches are exactly these."""
    return np.argsort([len(t) for t in texts], kind="stable")


@torch.no_grad()
def torch_encode(tower: Tower, tokenizer: TextTokenizer, texts: list[str], batch_size: int = ENCODE_BATCH,
                 pooled: bool = False, desc: str = "encode") -> np.ndarray:
    """Vectors for `texts` (unit-norm tower output, or the pooled state before projection), sorted by length
    for less padding and returned in input order."""
    tower.eval()
    order = length_order(texts)
    out: np.ndarray | None = None
    for start in tqdm(range(0, len(texts), batch_size), desc=desc, unit="batch", leave=False):
        idx = order[start : start + batch_size]
        feats = tokenizer([texts[i] for i in idx])
        vec = tower.pooled(**feats) if pooled else tower(**feats)
        if out is None:
            out = np.zeros((len(texts), vec.shape[1]), dtype=np.float32)
        out[idx] = vec.float().numpy()
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


@torch.no_grad()
def score_pairs_heads(model, pairs: Pairs, batch_size: int = 128) -> dict[str, np.ndarray]:
    """Logits of each of a TwinBERT's heads for every pair, encoding each distinct query and ad once."""
    model.eval()
    queries, qi = unique_index(pairs.query)
    ads, ai = unique_index(pair_ad_texts(pairs))
    q = torch.from_numpy(torch_encode(model.query_tower, model.tokenizer("query"), queries, batch_size, desc="queries"))
    a = torch.from_numpy(torch_encode(model.ad_tower, model.tokenizer("ad"), ads, batch_size, desc="ads"))
    logits: dict[str, list[np.ndarray]] = {}
    for s in range(0, len(pairs), 4096):
        qs, as_ = torch.from_numpy(qi[s : s + 4096]), torch.from_numpy(ai[s : s + 4096])
        for h, v in model.heads(q[qs], a[as_]).items():
            logits.setdefault(h, []).append(v.float().numpy())
    return {h: np.concatenate(v) for h, v in logits.items()}


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
