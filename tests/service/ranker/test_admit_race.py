"""A request never runs on a bundle a swap has retired (and closed once its last user left): a retired bundle
refuses new users, and a request that read it takes the bundle that replaced it."""

import pytest

from service.errors import ServiceError
from service.ranker.ranker import Ranker, Serving
from tests.service.conftest import make_settings


def test_a_retired_bundle_is_never_acquired(bundle_root):
    ranker = Ranker(make_settings(bundle_root))
    try:
        ranker.reload()
        old = ranker._serving
        assert old.acquire() is True
        old.release()
        # the swap's window: the reference was read, a new bundle took its place, the old one was retired
        replacement = Serving(old.bundle, ranker.settings, ranker.metrics)
        ranker._serving = replacement
        old.retire()
        assert old.acquire() is False  # nothing counted on the retired one
        serving = ranker._admit()
        try:
            assert serving is replacement
        finally:
            ranker._done(serving)
        # a served reference that stays retired is refused as unavailable, not run, and counts nothing in flight
        ranker._serving = old
        with pytest.raises(ServiceError, match="retired"):
            ranker._admit()
        assert ranker.inflight == 0
        ranker._serving = replacement
    finally:
        ranker.close()
