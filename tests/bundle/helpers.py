"""Factories for bundle tests: a seeded catalog and a tiny exported TwinBERT (real ONNX, real FAISS)."""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = ["laufschuhe", "damen", "herren", "guenstig", "kaufen", "wohnung", "mieten", "fahrrad", "kinder",
         "gartenmoebel", "holz", "flug", "berlin", "winterjacke", "wasserdicht", "sale", "online", "shop"]


def catalog_rows(n: int = 60, seed: int = 0, prefix: str = "ad") -> list[dict]:
    rng = random.Random(seed)
    return [{"ad_id": f"{prefix}{i:04d}", "title": " ".join(rng.sample(WORDS, 3)).title(),
             "description": " ".join(rng.sample(WORDS, 5)), "bid": round(rng.uniform(0.1, 2.0), 3),
             "p_click": round(rng.uniform(0.005, 0.08), 4)} for i in range(n)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_twinbert(base_dir: Path, seed: int = 0):
    """A tiny TwinBERT (2-layer query tower, 4-layer ad tower, 16-d) with a non-trivial residual head."""
    import torch

    from models.twinbert import TwinBERT, TwinBERTConfig

    torch.manual_seed(seed)
    model = TwinBERT.from_base(TwinBERTConfig(base=str(base_dir), query_layers=2, ad_layers=4, proj_dim=16,
                                              res_hidden=16))
    with torch.no_grad():  # the last MLP layer starts at zero; make `res` differ from `cos`
        torch.nn.init.normal_(model.res_head.mlp[-1].weight, std=0.5)
    return model.eval()


def tiny_model_dir(base_dir: Path, out: Path, int8: bool = True, seed: int = 0) -> Path:
    """Export `tiny_twinbert` into a model directory (reused when already there)."""
    from offline.export.model_dir import export_model

    if (out / "model.json").exists():
        return out
    return export_model(tiny_twinbert(base_dir, seed), out, calibration={"head": "res", "kind": "platt", "a": 0.5,
                                                                   "b": 0.2}, int8=int8)
