"""Vocabulary trimming: the trimmed tokenizer keeps kept pieces' segmentation, unknown characters become
`<unk>`, and an exported trimmed tower matches the untrimmed PyTorch model on texts of kept pieces."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from offline.export.vocab_trim import (
    VocabTrimError,
    plan_from_tokenizers,
    plan_trim,
    token_drift,
    trim_tokenizer,
    used_piece_ids,
    word_list_texts,
)
from tests.utils.tiny_models import SAMPLE_TEXTS, make_tiny_unigram_base

KEEP_TEXTS = SAMPLE_TEXTS[:6]  # the "training split" whose pieces are kept
OTHER_TEXTS = SAMPLE_TEXTS[6:]


@pytest.fixture(scope="module")
def unigram_base(tmp_path_factory) -> Path:
    return make_tiny_unigram_base(tmp_path_factory.mktemp("unigram") / "base")


@pytest.fixture(scope="module")
def tokenizers_pair(unigram_base):
    original = Tokenizer.from_file(str(unigram_base / "tokenizer.json"))
    plan = plan_trim(original, used_piece_ids(original, KEEP_TEXTS))
    return original, trim_tokenizer(original, plan), plan


def test_kept_texts_tokenize_to_the_same_pieces(tokenizers_pair) -> None:
    original, trimmed, plan = tokenizers_pair
    assert plan.size < original.get_vocab_size()
    assert trimmed.get_vocab_size() == plan.size
    for text in KEEP_TEXTS:
        a, b = original.encode(text), trimmed.encode(text)
        assert b.tokens == a.tokens
        assert [plan.kept[i] for i in b.ids] == a.ids


def test_specials_keep_their_roles_and_the_json_round_trips(tokenizers_pair, tmp_path) -> None:
    original, trimmed, plan = tokenizers_pair
    path = tmp_path / "tokenizer.json"
    trimmed.save(str(path))
    reloaded = Tokenizer.from_file(str(path))
    for special in ("<s>", "<pad>", "</s>", "<unk>"):
        assert plan.kept[reloaded.token_to_id(special)] == original.token_to_id(special)
    ids = reloaded.encode(KEEP_TEXTS[0]).ids
    assert ids[0] == reloaded.token_to_id("<s>") and ids[-1] == reloaded.token_to_id("</s>")
    assert json.loads(path.read_text())["model"]["unk_id"] == reloaded.token_to_id("<unk>")
    assert plan_from_tokenizers(original, reloaded) == plan


def test_any_text_still_tokenizes_and_unknown_characters_become_unk(tokenizers_pair) -> None:
    original, trimmed, plan = tokenizers_pair
    unk = trimmed.token_to_id("<unk>")
    kept_chars = {p for p, _ in json.loads(trimmed.to_str())["model"]["vocab"] if len(p) == 1}
    dropped = sorted({p for p, _ in json.loads(original.to_str())["model"]["vocab"] if len(p) == 1} - kept_chars)
    assert dropped, "the tiny vocabulary should lose some single characters"
    text = f"laufschuhe {dropped[0]} Ж中"
    enc = trimmed.encode(text)
    assert unk in enc.ids
    assert all(0 <= i < plan.size for i in enc.ids)
    # a new word spelled with kept characters is segmented without <unk>
    assert unk not in trimmed.encode("schuhe").ids
    drift = token_drift(original, trimmed, plan, [*KEEP_TEXTS, *OTHER_TEXTS])
    assert drift.tokens > 0 and 0 <= drift.changed <= drift.tokens
    assert token_drift(original, trimmed, plan, KEEP_TEXTS).changed == 0


def test_non_unigram_vocabularies_are_refused(tmp_path) -> None:
    from tests.utils.tiny_models import make_tiny_base

    wordpiece = Tokenizer.from_file(str(make_tiny_base(tmp_path / "wp") / "tokenizer.json"))
    with pytest.raises(VocabTrimError, match="unigram"):
        plan_trim(wordpiece, {0, 1})


def test_word_list_adds_folded_forms(tmp_path) -> None:
    path = tmp_path / "words"
    path.write_text("Gärten\nStraße\n\n", encoding="utf-8")
    assert {"Gärten", "gärten", "gaerten", "Straße", "straße", "strasse"} <= set(word_list_texts(path))
    with pytest.raises(VocabTrimError, match="wngerman"):
        word_list_texts(tmp_path / "missing")


def test_trimmed_export_matches_untrimmed_pytorch_on_kept_pieces(unigram_base, tmp_path) -> None:
    import torch

    from models.twinbert import TwinBERT, TwinBERTConfig
    from offline.export.model_dir import export_model
    from offline.export.vocab_trim import trim_for_texts
    from service.runtime.towers import OnnxTower

    torch.manual_seed(0)
    model = TwinBERT.from_base(TwinBERTConfig(base=str(unigram_base), query_layers=2, ad_layers=4, proj_dim=16))
    model.eval()
    with torch.no_grad():
        ref = {r: model.encode(r, KEEP_TEXTS).numpy() for r in ("query", "ad")}
    full_vocab = model.tower("query").encoder.embeddings.word_embeddings.num_embeddings
    trimmed, plan = trim_for_texts(model, KEEP_TEXTS, tmp_path / "vocab")
    assert plan.size < full_vocab
    assert trimmed.tower("ad").encoder.embeddings.word_embeddings.num_embeddings == plan.size

    out = export_model(trimmed, tmp_path / "export", int8=True)
    info = json.loads((out / "model.json").read_text())
    assert info["vocab"] == {"kept": plan.size, "original": plan.original_size}
    for route in ("query", "ad"):
        tower = OnnxTower(out / info["encoders"][route]["fp32"], out / "tokenizer.json", info[f"{route}_prefix"],
                          info[f"{route}_max_len"])
        assert np.abs(tower.encode(KEEP_TEXTS) - ref[route]).max() <= 1e-4

    int8_only = export_model(trimmed, tmp_path / "int8-only", int8=True, keep_fp32=False)
    info = json.loads((int8_only / "model.json").read_text())
    assert info["encoders"]["query"] == {"fp32": None, "int8": "query_encoder.int8.onnx"}
    assert sorted(p.name for p in int8_only.glob("*.onnx")) == [
        "ad_encoder.int8.onnx", "query_encoder.int8.onnx", "res_head.onnx"]
    assert set(info["files"]) == {p.name for p in int8_only.iterdir()} - {"model.json"}
