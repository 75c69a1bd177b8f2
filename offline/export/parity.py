"""Parity of exported ONNX graphs with the PyTorch model they came from (max abs difference)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from models.twinbert import TwinBERT
from service.runtime.onnx_model import make_session

PARITY_TOL = 1e-4
# Varied lengths (one past any max length), umlauts, digits and symbols; batches of 1 and of many.
SAMPLE_TEXTS = [
    "laufschuhe damen",
    "Laufschuhe für Damen – jetzt bis zu 50 % reduziert, kostenloser Versand ab 20 €",
    "a",
    "Wohnung mieten ohne Makler in Berlin, Hamburg und München",
    "kinderfahrrad 20 zoll blau",
    " ".join(["Gartenmöbel aus Holz günstig bestellen"] * 30),
]


def tower_parity(model: TwinBERT, route: str, onnx_path: Path, texts: list[str] | None = None) -> float:
    """Max |ONNX − PyTorch| over the embeddings of `texts`, run as one batch and one text at a time."""
    texts = texts or SAMPLE_TEXTS
    sess = make_session(onnx_path)
    tok = model.tokenizer(route)
    tower = model.tower(route).eval()
    worst = 0.0
    for batch in [texts] + [[t] for t in texts[:2]]:
        feats = tok(batch)
        with torch.no_grad():
            ref = tower(**feats).numpy()
        out = sess.run(["embedding"], {k: v.numpy() for k, v in feats.items()})[0]
        worst = max(worst, float(np.abs(out - ref).max()))
    return worst


def head_parity(model: TwinBERT, onnx_path: Path, n: int = 16, seed: int = 0) -> float:
    """Max |ONNX − PyTorch| of the residual head's logits on random unit vectors."""
    g = torch.Generator().manual_seed(seed)
    q = torch.nn.functional.normalize(torch.randn(n, model.dim, generator=g), dim=-1)
    a = torch.nn.functional.normalize(torch.randn(n, model.dim, generator=g), dim=-1)
    with torch.no_grad():
        ref = model.res_head(q, a).numpy()
    out = make_session(onnx_path).run(["logit"], {"q": q.numpy(), "a": a.numpy()})[0]
    return float(np.abs(out - ref).max())
