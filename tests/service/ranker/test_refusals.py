"""Broken versions under a serving Ranker: each kind refused with its reason, counted, the old bundle serving,
and not tried again until CURRENT names another version."""

from __future__ import annotations

from pathlib import Path

import pytest

from load_tests.chaos.broken_bundles import BREAKAGES, EXPECTED_REASON, copy_version, publish_broken, switch_current
from service.bundle import BundleError
from service.ranker.ranker import Ranker
from service.ranker.types import RankQuery
from tests.service.conftest import make_settings


def _refusals(ranker: Ranker, reason: str) -> float:
    return ranker.metrics.registry.get_sample_value("twinrank_bundle_events_total",
                                                    {"event": "refused", "reason": reason}) or 0.0


@pytest.mark.parametrize("kind", sorted(BREAKAGES))
def test_broken_version_is_refused_and_the_old_one_serves(bundle_root: Path, kind: str) -> None:
    ranker = Ranker(make_settings(bundle_root))
    ranker.reload()
    good = ranker.bundle
    assert good is not None
    broken = publish_broken(bundle_root, good.version_dir, kind)
    with pytest.raises(BundleError) as exc:
        ranker.check_current()
    assert exc.value.reason == EXPECTED_REASON[kind]
    assert ranker.bundle is good and broken.name in ranker.refused
    out = ranker.rank_sync(RankQuery(query="laufschuhe", top_k=3, defect_weight=0.5))
    assert out.bundle_version == good.version
    assert ranker.check_current() is None  # remembered: not tried again on the next poll
    assert _refusals(ranker, exc.value.reason) == 1
    ranker.close()


def test_a_refused_version_is_tried_again_once_current_has_moved_on(bundle_root: Path) -> None:
    ranker = Ranker(make_settings(bundle_root))
    ranker.reload()
    good = ranker.bundle
    assert good is not None
    broken = publish_broken(bundle_root, good.version_dir, "missing_file")
    with pytest.raises(BundleError):
        ranker.check_current()
    fine = copy_version(bundle_root, good.version_dir, "fine")
    switch_current(bundle_root, fine.name)
    assert ranker.check_current().bundle_version == fine.name
    assert broken.name not in ranker.refused
    (broken / "tokenizer.json").hardlink_to(good.version_dir / "tokenizer.json")  # repaired in place
    switch_current(bundle_root, broken.name)
    assert ranker.check_current().bundle_version == broken.name
    assert _refusals(ranker, "missing_file") == 1
    ranker.close()


def test_a_garbled_current_is_refused_once(bundle_root: Path) -> None:
    ranker = Ranker(make_settings(bundle_root))
    ranker.reload()
    (bundle_root / "CURRENT").write_text("../../etc\n")
    assert ranker.check_current() is None and ranker.check_current() is None
    assert "CURRENT" in ranker.refused and _refusals(ranker, "manifest") == 1
    ranker.close()
