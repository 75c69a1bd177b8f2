"""The vector cache of the libraries and runtimes parts: vectors equal the tower's own, a shorter ask reads a
prefix without encoding or shrinking the cache, a longer ask encodes only the rest, another order starts over."""

import numpy as np

from load_tests.bench.student_vectors import VectorCache, catalog_texts, encode_cached, tower

TEXTS = [f"angebot {i} laufschuhe damen günstig" for i in range(9)]


def test_cache_prefixes_resumes_and_matches_the_tower(model_dir, tmp_path):
    v5, info = encode_cached(model_dir, "ad", TEXTS[:5], tmp_path)
    assert info["encoded_now"] == 5 and v5.shape[0] == 5
    v3, info = encode_cached(model_dir, "ad", TEXTS[:3], tmp_path)
    assert info["encoded_now"] == 0 and np.array_equal(v3, v5[:3])
    v9, info = encode_cached(model_dir, "ad", TEXTS, tmp_path)
    assert info["from_cache"] == 5 and info["encoded_now"] == 4
    # int8 activations are quantised per batch: compare with the batches the cache was filled with
    enc = tower(model_dir, "ad", 1)
    np.testing.assert_allclose(v9[:5], enc.encode_sorted(TEXTS[:5]), atol=1e-5)
    np.testing.assert_allclose(v9[5:], enc.encode_sorted(TEXTS[5:]), atol=1e-5)
    cache_dir = next((tmp_path / "student_vectors").iterdir())
    assert len(VectorCache(cache_dir).texts) == 9  # the short ask did not shrink it
    _, info = encode_cached(model_dir, "ad", TEXTS[::-1], tmp_path)
    assert info["from_cache"] == 0 and info["encoded_now"] == 9


def test_time_budget_stops_after_the_first_chunk(model_dir, tmp_path):
    many = [f"{t} {i}" for i in range(2) for t in TEXTS] * 60  # > one 512-text chunk
    many = list(dict.fromkeys(f"{t} {i}" for i, t in enumerate(many)))
    vecs, info = encode_cached(model_dir, "ad", many, tmp_path, budget_s=1e-9)
    assert info["got"] == 512 == len(vecs) < len(many)


def test_catalog_tops_up_with_sample_ads_without_qadsm():
    texts, counts = catalog_texts(None, 150)
    assert len(texts) == len(set(texts)) == 150 and counts == {"sample_catalog": 150}
