"""A word-level tokenizer with open_clip's calling convention.

Small worlds have a few dozen words, so a word vocabulary replaces open_clip's 49k-entry BPE table
(which alone would be most of a small model's parameters).  Ids: PAD=0, UNK=1, SOT=2, then the words
in vocabulary order, and EOT as the LARGEST id, so that open_clip's default text pooling
(`argmax` over token ids) lands on the end-of-text token as it does with the BPE tokenizer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

import torch

PAD, UNK, SOT = "<pad>", "<unk>", "<sot>"
EOT = "<eot>"
_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def split_words(text: str) -> list[str]:
    """Lowercase and split into words and single punctuation marks."""
    return _WORD.findall(text.lower())


class WordTokenizer:
    """`tok(["a photo of a star."]) -> LongTensor (N, context_length)`.

    Args:
        vocab: the words (no special tokens), in id order starting at 3.
        context_length: tokens per text including SOT and EOT; longer texts are truncated
            keeping EOT last.
    """

    def __init__(self, vocab: list[str], context_length: int = 16):
        self.vocab = list(vocab)
        self.context_length = context_length
        self.itos = [PAD, UNK, SOT, *self.vocab, EOT]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.pad_id, self.unk_id, self.sot_id, self.eot_id = 0, 1, 2, len(self.itos) - 1

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    @classmethod
    def from_texts(cls, texts: Iterable[str], context_length: int = 16) -> WordTokenizer:
        """Vocabulary = sorted set of words in `texts` (deterministic)."""
        words = sorted({w for t in texts for w in split_words(t)})
        return cls(words, context_length)

    def encode(self, text: str) -> list[int]:
        ids = [self.stoi.get(w, self.unk_id) for w in split_words(text)]
        ids = [self.sot_id, *ids[: self.context_length - 2], self.eot_id]
        return ids + [self.pad_id] * (self.context_length - len(ids))

    def __call__(self, texts: str | list[str], context_length: int | None = None) -> torch.Tensor:
        if isinstance(texts, str):
            texts = [texts]
        if context_length not in (None, self.context_length):
            raise ValueError(f"this tokenizer has context_length={self.context_length}")
        return torch.tensor([self.encode(t) for t in texts], dtype=torch.long)  # (N, L)

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.itos[i] for i in ids if i not in (self.pad_id, self.sot_id, self.eot_id))

    def to_json(self) -> str:
        return json.dumps({"vocab": self.vocab, "context_length": self.context_length}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> WordTokenizer:
        d = json.loads(text)
        return cls(d["vocab"], d["context_length"])

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> WordTokenizer:
        return cls.from_json(Path(path).read_text())
