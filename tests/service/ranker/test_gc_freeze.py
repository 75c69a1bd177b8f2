"""A loaded bundle is moved out of the garbage collector's reach, so full collections stay short."""

import gc

from service.ranker.ranker import Ranker
from tests.service.conftest import make_settings


def test_reload_freezes_the_loaded_bundle(bundle_root):
    gc.unfreeze()
    ranker = Ranker(make_settings(bundle_root))
    try:
        assert gc.get_freeze_count() == 0
        ranker.reload()
        assert gc.get_freeze_count() > 0
        collected = {id(o) for g in range(3) for o in gc.get_objects(generation=g)}
        assert id(ranker.bundle) not in collected
    finally:
        ranker.close()
        gc.unfreeze()
