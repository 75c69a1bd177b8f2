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


def _narrow_res_head(path: Path, width: int) -> None:
    """A valid ONNX residual head (inputs q, a; output logit) of another width."""
    import onnx
    from onnx import TensorProto, helper

    q = helper.make_tensor_value_info("q", TensorProto.FLOAT, ["n", width])
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["n", width])
    logit = helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["n"])
    graph = helper.make_graph([helper.make_node("Mul", ["q", "a"], ["qa"]),
                               helper.make_node("ReduceSum", ["qa"], ["logit"], axes=[1], keepdims=0)],
                              "narrow_res", [q, a], [logit])
    path.unlink()
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), path)


def test_a_head_of_another_width_is_a_refusal_not_a_watcher_crash(bundle_root: Path) -> None:
    """ONNX Runtime raises its own exception types (not RuntimeError) when the head meets vectors of the wrong
    width; the load turns any of them into a counted refusal instead of an error retried on every poll."""
    import json

    from service.bundle import sha256_file
    from service.runtime.bundle_check import verify_bundle

    ranker = Ranker(make_settings(bundle_root))
    ranker.reload()
    good = ranker.bundle
    assert good is not None
    d = copy_version(bundle_root, good.version_dir, "narrow-head")
    _narrow_res_head(d / "res_head.onnx", good.dim + 4)
    raw = json.loads((d / "manifest.json").read_text())
    raw["files"]["res_head.onnx"] = sha256_file(d / "res_head.onnx")
    (d / "manifest.json").unlink()
    (d / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="res_head.onnx"):
        verify_bundle(d)  # the publish-time check catches it too
    switch_current(bundle_root, d.name)
    with pytest.raises(BundleError) as exc:
        ranker.check_current()
    assert exc.value.reason == "warm_up" and ranker.bundle is good
    assert ranker.check_current() is None
    ranker.close()
