"""Factories for tests: a seeded catalog, a tiny exported TwinBERT (real ONNX) and real published bundles
(real FAISS), built by the project's own export and bundle writer."""

from __future__ import annotations

import json
import random
import shutil
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


def write_catalog(path: Path, n: int = 40, seed: int = 0, prefix: str = "ad") -> Path:
    """`catalog_rows(n, seed, prefix)` as a JSONL catalog."""
    return write_jsonl(path, catalog_rows(n, seed, prefix))


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


def build_tiny_bundle(model_dir: Path, catalog: Path, root: Path) -> Path:
    """Publish a bundle version under `root` (CURRENT switched to it); returns the version dir."""
    from offline.publish.index_build import build_bundle

    return build_bundle(model_dir, catalog, root, progress=False)


def published_root(model_dir: Path, catalog: Path, parent: Path) -> Path:
    """`parent/bundles`, a bundle root with one version of `catalog` encoded by `model_dir`."""
    root = parent / "bundles"
    build_tiny_bundle(model_dir, catalog, root)
    return root


def private_copy(root: Path, tmp_path: Path) -> Path:
    """A copy of a bundle root under `tmp_path` (real files, no hard links back), for a test to change."""
    dst = tmp_path / "bundles"
    shutil.copytree(root, dst)
    return dst
