"""Fast stand-ins for tests only: an encoder that maps keywords to one-hot vectors."""
from __future__ import annotations

import re

import numpy as np


class FakeEncoder:
    """Vector of a text = normalised counts of its vocabulary words; a text with none gets the last axis."""

    def __init__(self, vocabulary: list[str], key: str = "fake") -> None:
        self.vocabulary = [w.lower() for w in vocabulary]
        self.dim = len(self.vocabulary) + 1
        self.key = key
        self.calls = 0
        self.encoded = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"[a-z]+", text.lower())
            for j, w in enumerate(self.vocabulary):
                out[row, j] = words.count(w)
            if not out[row].any():
                out[row, -1] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)
