import pytest
import torch

from models.losses import DistillationLoss, soft_bce
from models.twinbert import TwinBERT, TwinBERTConfig


def test_save_load_roundtrip_and_heads(tmp_path, tiny_base_dir):
    m = TwinBERT.from_base(TwinBERTConfig(base=str(tiny_base_dir), query_layers=2, ad_layers=4, proj_dim=16)).eval()
    q = m.encode("query", ["laufschuhe damen", "flug berlin"])
    a = m.encode("ad", ["Laufschuhe für Damen", "Billigflüge nach Berlin"])
    assert q.shape == (2, 16)
    assert torch.allclose(q.norm(dim=-1), torch.ones(2), atol=1e-5)
    heads = m.heads(q, a)
    assert torch.allclose(heads["res"], heads["cos"]), "res head starts equal to the cosine head"
    m.save(tmp_path / "ck")
    m2 = TwinBERT.load(tmp_path / "ck")
    assert torch.allclose(m2.encode("query", ["laufschuhe damen", "flug berlin"]), q, atol=1e-6)
    assert len(m2.query_tower.encoder.encoder.layer) == 2 and len(m2.ad_tower.encoder.encoder.layer) == 4


def test_unknown_tower_lists_routes(tiny_base_dir):
    m = TwinBERT.from_base(TwinBERTConfig(base=str(tiny_base_dir), query_layers=1, ad_layers=1, proj_dim=8))
    with pytest.raises(KeyError, match="towers are"):
        m.tower("document")


def test_losses_are_checked_and_behave():
    with pytest.raises(ValueError):
        DistillationLoss(temperature=0)
    with pytest.raises(ValueError):
        DistillationLoss(soft_weight=0, mse_weight=0, hard_weight=0, align_weight=0)
    t = torch.tensor([3.0, -3.0])
    assert soft_bce(t, t) < soft_bce(-t, t)
    loss = DistillationLoss(soft_weight=0, hard_weight=1)(torch.tensor([5.0, -5.0]), label=torch.tensor([1, -1]))
    assert loss < 0.01  # the unlabelled (-1) pair is ignored
