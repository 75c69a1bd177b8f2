import torch

from offline.distill.teacher import in_batch_contrastive


def test_in_batch_contrastive_prefers_matching_ads_and_masks_same_query_positives():
    q = torch.nn.functional.normalize(torch.eye(3), dim=-1)
    a = q.clone()
    label = torch.tensor([1.0, 1.0, 0.0])
    good = in_batch_contrastive(q, a, label, ["x", "y", "z"])
    bad = in_batch_contrastive(q, a.roll(1, 0), label, ["x", "y", "z"])
    assert good < bad
    # two Good ads of the same query: neither is the other's negative
    same = in_batch_contrastive(q, torch.stack([a[0], a[0], a[2]]), label, ["x", "x", "z"])
    assert torch.isfinite(same)
    assert in_batch_contrastive(q, a, torch.zeros(3), ["x", "y", "z"]) == 0
