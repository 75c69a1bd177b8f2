"""Tiny base encoders for tests: a WordPiece tokenizer trained on a few sentences and a 4-layer BERT
with random weights, written as a transformers directory (what `resolve_base` accepts)."""

from __future__ import annotations

import json
from pathlib import Path

SAMPLE_TEXTS = [
    "laufschuhe damen guenstig kaufen",
    "Laufschuhe für Damen jetzt im Sale",
    "immobilien von privat mieten",
    "Wohnung mieten ohne Makler",
    "kinderfahrrad 20 zoll",
    "Fahrräder für Kinder im Online Shop",
    "gartenmoebel set holz",
    "Gartenmöbel aus Holz günstig bestellen",
    "flug nach berlin billig",
    "Billigflüge nach Berlin vergleichen",
    "winterjacke herren wasserdicht",
    "Herren Jacken für den Winter",
]


def make_tiny_base(out: Path, layers: int = 4, hidden: int = 32, seed: int = 0) -> Path:
    """Write a tiny BERT + tokenizer.json into `out` (idempotent) and return it."""
    if (out / "config.json").exists():
        return out
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    tok.train_from_iterator(SAMPLE_TEXTS * 4, trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    return _save_with_bert(out, tok, "[PAD]", "[UNK]", layers, hidden, seed)


def make_tiny_unigram_base(out: Path, layers: int = 4, hidden: int = 32, seed: int = 0) -> Path:
    """Write a tiny BERT with an XLM-R-style sentencepiece unigram tokenizer (`<s> <pad> </s> <unk>` first,
    Metaspace pre-tokenizer) into `out` (idempotent) and return it: what vocabulary trimming works on."""
    if (out / "config.json").exists():
        return out
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.UnigramTrainer(vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                      unk_token="<unk>", shrinking_factor=0.9)
    tok.train_from_iterator(SAMPLE_TEXTS * 4, trainer)
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    return _save_with_bert(out, tok, "<pad>", "<unk>", layers, hidden, seed)


def _save_with_bert(out: Path, tok, pad: str, unk: str, layers: int, hidden: int, seed: int) -> Path:
    """Save `tok` and a randomly initialised BERT over its vocabulary as a transformers directory."""
    import torch
    from transformers import BertConfig, BertModel

    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast",
                                                           "pad_token": pad, "unk_token": unk}))
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
        intermediate_size=2 * hidden, max_position_embeddings=128, pad_token_id=tok.token_to_id(pad),
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(out)
    return out
