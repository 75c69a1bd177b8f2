"""Build the embedded default bundle when a bundle root has none: `python -m offline.publish.default_bundle`.

The student is the shipped one (`shipped/twinbert-de`: the distilled TwinBERT with int8 towers and a trimmed
German vocabulary, its relevance Platt-calibrated on QADSM dev); the catalog is the project's made-up sample
(`offline.data.sample_catalog`, a few thousand ads over about 80 categories). Needs only the serving extras:
the ads are encoded by the exported ONNX ad tower, so no torch is installed or imported.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

log = logging.getLogger("twinrank.default_bundle")

DEFAULT_ADS = 3000


def build_default_bundle(root: Path, model_dir: Path | None = None, n_ads: int = DEFAULT_ADS,
                         threads: int = 2) -> Path:
    """Publish a bundle of `model_dir` (default: the shipped student) over the sample catalog under `root`;
    returns its version directory."""
    from offline.data.sample_catalog import write_sample_catalog
    from offline.export.shipped import model_or_shipped
    from offline.publish.index_build import build_bundle

    model_dir = model_or_shipped(model_dir)
    with tempfile.TemporaryDirectory(prefix="twinrank-default-") as tmp:
        catalog = write_sample_catalog(Path(tmp) / "sample_ads.jsonl", n_ads)
        log.info("encoding %d sample ads with %s and publishing the bundle under %s", n_ads, model_dir, root)
        return build_bundle(model_dir, catalog, root, threads=threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the default bundle if the bundle root has none.")
    parser.add_argument("--bundles", type=Path, default=Path("bundles"), help="bundle root")
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the shipped student)")
    parser.add_argument("--ads", type=int, default=DEFAULT_ADS, help="size of the sample catalog")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime / FAISS threads")
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
    from offline.errors import OfflineError

    try:
        version_dir = build_default_bundle(args.bundles, args.model, args.ads, args.threads)
    except (OfflineError, BundleError) as exc:
        log.error("error: %s", exc)
        return 2
    log.info("published %s", version_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
