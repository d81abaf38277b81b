"""Tokenizers as ``tokenizers.Tokenizer`` objects, whatever the encoder.

A pretrained Hugging Face folder ships ``tokenizer.json``, which ``tokenizers`` reads directly; a
from-scratch model gets a WordPiece vocabulary trained on its own corpus. Either way the tokenizer
serialises to one JSON string (``Tokenizer.to_str``) that travels inside the checkpoint, so
prediction needs neither the original folder nor ``transformers``' tokenizer classes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from tokenizers import Tokenizer

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

if TYPE_CHECKING:
    import torch


def train_wordpiece(texts: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2,
                    suffix_share: float = 0.25) -> Tokenizer:
    """A lower-casing BERT-style WordPiece tokenizer whose vocabulary is learned from ``texts``.

    The vocabulary is counted deterministically (``tokenizers``' WordPiece trainer breaks count
    ties by hash-map order, so the same corpus and seed gave different vocabularies): every
    character (word-initial and ``##`` continuation), the most frequent whole words, and a
    ``suffix_share`` of frequent word endings (``##ing``, ``##ed``, ...) so that unseen words such
    as noisy title spellings split into known pieces. Ties are broken alphabetically.
    """
    from collections import Counter

    from tokenizers import decoders, models, normalizers, pre_tokenizers, processors

    normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=None)
    pre = pre_tokenizers.BertPreTokenizer()
    words: Counter[str] = Counter()
    for text in texts:
        words.update(w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({c for w in words for c in w})
    base = SPECIAL_TOKENS + chars + ["##" + c for c in chars]
    budget = max(0, vocab_size - len(base))
    frequent = [w for w, n in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_frequency and len(w) > 1]
    suffixes: Counter[str] = Counter()
    for w, n in words.items():
        for k in range(2, min(6, len(w))):
            suffixes["##" + w[-k:]] += n
    top_suffixes = [s for s, n in sorted(suffixes.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_frequency]
    n_suffix = min(len(top_suffixes), int(budget * suffix_share))
    chosen = frequent[:budget - n_suffix]
    chosen += top_suffixes[:budget - len(chosen)]
    vocab: dict[str, int] = {}
    for t in base + chosen:
        vocab.setdefault(t, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.WordPiece()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return tok


def load_tokenizer(folder: str | Path) -> Tokenizer:
    """The ``tokenizer.json`` of a Hugging Face model folder."""
    path = Path(folder) / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"no tokenizer.json in encoder folder {folder} (a fast tokenizer file is required)")
    return Tokenizer.from_file(str(path))


def configure(tok: Tokenizer, max_length: int) -> Tokenizer:
    """Truncate to ``max_length`` tokens and pad each batch to its longest row (dynamic padding)."""
    pad_id = tok.token_to_id("[PAD]")
    if pad_id is None:
        pad_id = tok.token_to_id("<pad>") or 0
    tok.no_truncation()
    tok.enable_truncation(max_length=max_length)
    tok.enable_padding(pad_id=pad_id, pad_token=tok.id_to_token(pad_id) or "[PAD]")
    return tok


def encode(tok: Tokenizer, texts: Sequence[str]) -> dict[str, "torch.Tensor"]:
    """``input_ids`` and ``attention_mask`` (``[B, T]`` int64) for a batch of texts."""
    import torch

    enc = tok.encode_batch(list(texts))
    return {"input_ids": torch.tensor([e.ids for e in enc], dtype=torch.long),
            "attention_mask": torch.tensor([e.attention_mask for e in enc], dtype=torch.long)}
