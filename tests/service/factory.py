"""Test factories: a small catalog, a tiny TwinBERT, and real bundles built with the offline export/build."""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = ["laufschuhe", "damen", "herren", "guenstig", "kaufen", "wohnung", "mieten", "fahrrad", "kinder",
         "gartenmoebel", "holz", "flug", "berlin", "winterjacke", "wasserdicht", "sale", "online", "shop"]


def write_catalog(path: Path, n: int = 40, seed: int = 0, prefix: str = "ad") -> Path:
    rng = random.Random(seed)
    with path.open("w") as f:
        for i in range(n):
            title = " ".join(rng.sample(WORDS, 3)).title()
            desc = " ".join(rng.sample(WORDS, 5))
            row = {"ad_id": f"{prefix}{i:04d}", "title": title, "description": desc,
                   "bid": round(rng.uniform(0.1, 2.0), 3), "p_click": round(rng.uniform(0.005, 0.08), 4)}
            f.write(json.dumps(row) + "\n")
    return path


def tiny_model_dir(base_dir: Path, out: Path, seed: int = 0) -> Path:
    """Export a tiny TwinBERT (2-layer query tower, 4-layer ad tower, 16-d) into a model directory."""
    import torch

    from models.twinbert import TwinBERT, TwinBERTConfig
    from offline.export import export_model

    if (out / "model.json").exists():
        return out
    torch.manual_seed(seed)
    model = TwinBERT.from_base(TwinBERTConfig(base=str(base_dir), query_layers=2, ad_layers=4, proj_dim=16,
                                              res_hidden=16))
    with torch.no_grad():  # a non-zero residual MLP, so `res` differs from `cos` and the test can tell
        torch.nn.init.normal_(model.res_head.mlp[-1].weight, std=0.5)
    return export_model(model, out, calibration={"head": "res", "kind": "platt", "a": 0.5, "b": 0.2}, int8=False)


def build_tiny_bundle(model_dir: Path, catalog: Path, root: Path) -> Path:
    """Publish a bundle version under `root` (CURRENT switched to it); returns the version dir."""
    from offline.index_build import build_bundle

    return build_bundle(model_dir, catalog, root, progress=False)
