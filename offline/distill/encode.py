"""Batched PyTorch encoding of texts with a tower, and two-tower scoring of pairs that encodes each text once."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from models.text import TextTokenizer
from models.tower import Tower
from offline.data.qadsm import Pairs, pair_ad_texts, unique_index


@torch.no_grad()
def torch_encode(tower: Tower, tokenizer: TextTokenizer, texts: list[str], batch_size: int = 128,
                 pooled: bool = False, desc: str = "encode") -> np.ndarray:
    """Vectors for `texts` (unit-norm tower output, or the pooled state before projection), sorted by length
    for less padding and returned in input order."""
    tower.eval()
    order = np.argsort([len(t) for t in texts], kind="stable")
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
def score_pairs(model, pairs: Pairs, head: str = "cos", batch_size: int = 128) -> np.ndarray:
    """Logits of a TwinBERT's `head` for every pair, encoding each distinct query and ad once."""
    model.eval()
    queries, qi = unique_index(pairs.query)
    ads, ai = unique_index(pair_ad_texts(pairs))
    q = torch.from_numpy(torch_encode(model.query_tower, model.tokenizer("query"), queries, batch_size, desc="queries"))
    a = torch.from_numpy(torch_encode(model.ad_tower, model.tokenizer("ad"), ads, batch_size, desc="ads"))
    logits = []
    for s in range(0, len(pairs), 4096):
        qs, as_ = torch.from_numpy(qi[s : s + 4096]), torch.from_numpy(ai[s : s + 4096])
        logits.append(model.heads(q[qs], a[as_])[head].float().numpy())
    return np.concatenate(logits)
