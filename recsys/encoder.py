"""Text encoders: the packaged all-MiniLM-L6-v2, any sentence-transformers folder or Hugging Face model folder
(GPT-2 family too; `#mean` / `#last` picks the pooling), a fast batched encode path, and an on-disk cache of item
embeddings keyed by encoder and text."""
from __future__ import annotations

import hashlib
import io
import os
import threading
import time
import zipfile
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from recsys.devices import cpu_has_bf16, pick_device
from recsys.encoder_names import DEFAULT_MODEL, resolve_model, split_pooling
from recsys.errors import RecTuneError
from recsys.events import Callback, TrainEvent, emit
from recsys.mapped import mapped_npz_member
from recsys.storage import atomic_write_bytes

__all__ = ["DEFAULT_MODEL", "EmbeddingCache", "TextEncoder", "item_text_vectors"]
BF16_COPY_MIN = 256  # texts per encode call from which the CPU bf16 path uses a bf16 copy of the weights


class Encoder(Protocol):
    key: str  # identifies the weights: embeddings are cached under it
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:  # (n, dim), float32, unit rows
        ...


class TextEncoder:
    """A sentence-transformers model behind a faster encode loop. precision 'auto': bf16 on CPUs with native bf16,
    fp16 autocast on CUDA (cosine to fp32 > 0.999 measured by `recsys bench`), else fp32."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str | None = None, precision: str = "auto",
                 batch_size: int = 128) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1" if model.startswith("packaged:") else "0")
        self.name, self._path, self._pooling = model, resolve_model(model), split_pooling(model)[1]
        self.device = device or pick_device()
        self._setup(model_key(model, self._path), batch_size, precision)

    @classmethod
    def from_model(cls, st_model, key: str, device: str, precision: str = "auto", batch_size: int = 128) -> TextEncoder:
        """Wrap an in-memory sentence-transformers model (e.g. a freshly tuned copy)."""
        enc = cls.__new__(cls)
        enc.device = device
        enc._setup(key, batch_size, precision)
        enc._model = st_model.eval()
        return enc

    def _setup(self, key: str, batch_size: int, precision: str) -> None:
        self._model = None
        self._load_lock = threading.Lock()
        self.batch_size = batch_size
        self.precision = precision
        self.key = key
        self._bf16 = None  # (parameters, their versions, bf16 copy of the model): _bf16_copy
        self._bf16_lock = threading.Lock()  # one copy at a time (the shared encoder serves several threads)

    @property
    def model(self):
        """The sentence-transformers model, loaded at its first use: a round whose item texts are all in the cache
        (keyed by the weight files, not the loaded model) never loads it (~3-4 s on 2 cores)."""
        if self._model is not None:
            return self._model
        with self._load_lock:
            if self._model is None:
                model = _load_sentence_transformer(self.name, self._path, self.device)
                _pad_with_eos(model)
                if self._pooling is not None:
                    _set_pooling(model, self._pooling, self.name)
                self._model = model.eval()
            return self._model

    @property
    def dim(self) -> int:
        dim_of = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(dim_of())

    def save_to(self, folder: Path) -> None:
        self.model.save(str(folder), safe_serialization=True)

    def autocast_dtype(self):
        import torch
        if self.precision == "fp32":
            return None
        if self.device == "cuda":
            return torch.float16
        if self.device == "cpu" and (self.precision == "bf16" or cpu_has_bf16()):
            return torch.bfloat16
        return None

    def _tokenize(self, texts: list[str]) -> dict:
        tokenize = getattr(self.model, "preprocess", None) or self.model.tokenize  # renamed in ST 6
        return _tensors_to(tokenize(texts), self.device)

    def encode(self, texts: list[str]) -> np.ndarray:
        """(n, dim) float32 unit vectors; batches are formed from texts of similar length."""
        import torch
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        dtype = self.autocast_dtype()
        model = self._bf16_copy() if dtype == torch.bfloat16 and len(texts) >= BF16_COPY_MIN else self.model
        with torch.inference_mode(), torch.autocast(self.device if self.device != "mps" else "cpu",
                                                     dtype=dtype or torch.float32, enabled=dtype is not None):
            for start in range(0, len(texts), self.batch_size):
                idx = order[start:start + self.batch_size]
                features = self._tokenize([texts[i] or " " for i in idx])
                emb = model.forward(features)["sentence_embedding"].float()
                out[idx] = torch.nn.functional.normalize(emb, dim=-1).cpu().numpy()
        return out

    def _bf16_copy(self):
        """The model in bf16 weights for the CPU bf16 path (autocast re-casts every weight per batch): ~1.3x faster
        again at cosine > 0.9999 to fp32 (README). Kept while the model holds the same parameter tensors at the
        same versions (a step or load_state_dict bumps them; writes through `.data` do not: make a new encoder)."""
        import torch
        params = tuple(self.model.parameters())
        try:
            versions = tuple(p._version for p in params)
        except RuntimeError:  # inference tensors have no version counter
            return self.model
        with self._bf16_lock:
            old = self._bf16
            if old is None or old[1] != versions or any(a is not b for a, b in zip(old[0], params)):
                memo = {id(tok): tok for tok in [getattr(self.model, "tokenizer", None)]}  # shared: threads use it
                self._bf16 = (params, versions, deepcopy(self.model, memo).to(torch.bfloat16).eval())
            return self._bf16[2]


def _load_sentence_transformer(name: str, path: str, device: str):
    """A plain Hugging Face folder loads too: sentence-transformers adds a Pooling module to it."""
    from sentence_transformers import SentenceTransformer
    try:
        return SentenceTransformer(path, device=device)
    except (OSError, ValueError) as exc:  # ValueError: a config.json transformers does not recognise
        raise RecTuneError(f"cannot load encoder '{name}': {str(exc)[:200]}; give a local sentence-transformers "
                           "or Hugging Face model folder (GPT-2 family too, optionally ending in #mean or #last) "
                           "or a hub id (needs network).") from None


def _pad_with_eos(model) -> None:
    """GPT-2-family tokenizers have no pad token, and a batch needs one. The eos token is safe as pad: the
    attention mask keeps pads out of the pooling, and under right padding a causal model's real tokens never
    attend to the pads after them."""
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None and tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token


def _set_pooling(model, mode: str, name: str) -> None:
    """Replace the model's Pooling module by one of `mode` ('mean' | 'lasttoken') over the same token width.
    Last-token pooling finds each text's last real token from the attention mask, so padding does not move it."""
    pooling = _pooling_class()
    for index, module in enumerate(model):
        if isinstance(module, pooling):
            width = getattr(module, "embedding_dimension", None) or module.word_embedding_dimension
            model[index] = pooling(width, pooling_mode=mode)
            return
    raise RecTuneError(f"encoder '{name}' has no pooling layer to replace: drop the '#...' suffix.")


def _pooling_class() -> type:
    try:  # sentence-transformers >= 6 moved its modules
        from sentence_transformers.sentence_transformer.modules import Pooling
    except ImportError:
        from sentence_transformers.models import Pooling
    return Pooling


def _tensors_to(features: dict, device: str) -> dict:
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}


def model_key(name: str, path: str) -> str:
    """A stable id of the weights: name plus size and mtime of the weight files."""
    stamp = name
    folder = Path(path)
    if folder.is_dir():
        files = sorted(folder.rglob("*.safetensors")) + sorted(folder.rglob("*.bin"))
        stamp += "|" + "|".join(f"{f.name}:{f.stat().st_size}:{int(f.stat().st_mtime)}" for f in files)
    return hashlib.sha1(stamp.encode()).hexdigest()[:16]


def text_hash(texts: list[str]) -> np.ndarray:
    return np.array([hashlib.sha1(t.encode()).hexdigest().encode() for t in texts], dtype="S40")


class EmbeddingCache:
    """Embeddings of texts under one encoder key: `<dir>/emb-<key>.npz` plus one `emb-<key>.part-*.npz` per
    chunk encoded since (no pickle). Chunks are written as they finish, so a killed encode resumes where it
    stopped; the parts are merged into the main file at the end of a complete encode."""

    CHUNK = 512  # texts encoded (and written) at a time

    def __init__(self, folder: str | Path, encoder: Encoder) -> None:
        self.encoder = encoder
        self.folder, self.key = Path(folder), encoder.key
        self.path = self.folder / f"emb-{encoder.key}.npz"
        self.misses = 0

    @staticmethod
    def lookup(folder: str | Path, key: str, texts: list[str]) -> np.ndarray | None:
        """Cached embeddings of `texts` under encoder `key` without loading the encoder; None if any is missing."""
        known = _load_all(Path(folder), key)
        rows = known.rows(text_hash(texts))
        if not len(rows) or (rows < 0).any():
            return None
        in_order = len(rows) == len(known.vectors) and (rows == np.arange(len(rows))).all()
        return known.vectors if in_order else known.vectors[rows]  # a whole catalog cached in its order: no copy

    def encode(self, texts: list[str], progress=None) -> np.ndarray:
        """(n, dim) embeddings; only texts not cached before are encoded."""
        known = _load_all(self.folder, self.key)
        hashes = text_hash(texts)
        missing = np.flatnonzero(known.rows(hashes) < 0)
        todo = np.sort(missing[np.unique(hashes[missing], return_index=True)[1]])  # each missing text once
        self.misses = len(todo)
        done, fresh = 0, []
        for positions, vectors in self._batches([texts[i] for i in todo]):
            part = todo[positions]
            _write_npz(self.folder / f"emb-{self.key}.part-{time.time_ns()}.npz", hashes[part], vectors)
            fresh.append(Known(hashes[part], np.asarray(vectors, dtype=np.float32)))
            done += len(part)
            if progress is not None:
                progress(done, len(todo))
        if fresh:
            known = Known.merged([known, *fresh])
            self._compact(known)
        return known.vectors[known.rows(hashes)].astype(np.float32)

    def _batches(self, texts: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(positions in `texts`, vectors) a chunk at a time: here, or where the encoder runs them elsewhere
        (`encode_batches`, e.g. distributed.RayEncoder's Ray Data job), as the chunks finish."""
        elsewhere = getattr(self.encoder, "encode_batches", None)
        if elsewhere is not None and len(texts) > self.CHUNK:
            yield from elsewhere(texts, self.CHUNK)
            return
        for start in range(0, len(texts), self.CHUNK):
            positions = np.arange(start, min(start + self.CHUNK, len(texts)))
            yield positions, self.encoder.encode([texts[i] for i in positions])

    def _compact(self, known: Known) -> None:
        parts = sorted(self.folder.glob(f"emb-{self.key}.part-*.npz"))
        _write_npz(self.path, known.hashes, known.vectors)
        for part in parts:
            part.unlink(missing_ok=True)


class Known:
    """Cached (text hash, vector) pairs as two arrays, a hash's row found by a vectorised index lookup (a dict of
    row views took ~8 s to build and stack at 250,000 items). A hash stored twice keeps its last vector."""

    def __init__(self, hashes: np.ndarray, vectors: np.ndarray) -> None:
        self.hashes, self.vectors = np.asarray(hashes, dtype="S40"), vectors
        self.index = pd.Index(self.hashes)
        if not self.index.is_unique:
            keep = ~self.index.duplicated(keep="last")
            self.hashes, self.vectors = self.hashes[keep], vectors[keep]
            self.index = pd.Index(self.hashes)

    def rows(self, hashes: np.ndarray) -> np.ndarray:
        """Each hash's row in `vectors`, -1 where it is not cached."""
        return self.index.get_indexer(np.asarray(hashes, dtype="S40")) if len(self.hashes) else \
            np.full(len(hashes), -1, dtype=np.int64)

    @classmethod
    def merged(cls, parts: list[Known]) -> Known:
        parts = [p for p in parts if len(p.hashes)]
        if len(parts) <= 1:
            return parts[0] if parts else cls(np.zeros(0, "S40"), np.zeros((0, 0), np.float32))
        return cls(np.concatenate([p.hashes for p in parts]), np.concatenate([p.vectors for p in parts]))


def _load_all(folder: Path, key: str) -> Known:
    """The main file and every chunk written since; an unreadable (cut) file is skipped."""
    parts = []
    for path in [folder / f"emb-{key}.npz", *sorted(folder.glob(f"emb-{key}.part-*.npz"))]:
        try:
            with np.load(path, allow_pickle=False) as z:
                hashes, vectors = z["hashes"], mapped_npz_member(path, "vectors")
                if vectors is None or len(vectors) != len(hashes):  # not mappable, or replaced between the reads
                    vectors = z["vectors"]
                parts.append(Known(hashes, vectors))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            continue
    return Known.merged(parts)


def _write_npz(path: Path, hashes: np.ndarray, vectors: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez(buf, hashes=np.asarray(hashes, dtype="S40"), vectors=np.asarray(vectors, dtype=np.float32))
    atomic_write_bytes(path, buf.getvalue())


def item_text_vectors(cache_dir: Path, texts: list[str], encoder: Encoder, callbacks: list[Callback] = ()) -> np.ndarray:
    """(n_items, dim) embeddings of the item texts, from the cache where unchanged; progress as stage 'encode'."""
    where = getattr(encoder, "where", "")  # e.g. "on Ray (2 actors)" (distributed.RayEncoder)
    progress = lambda done, total: emit(callbacks, TrainEvent("encode", done, total, None,
                                                              f"encoding item texts {where}".rstrip()))
    return EmbeddingCache(cache_dir, encoder).encode(texts, progress)


_SHARED: dict[str, TextEncoder] = {}
_SHARED_LOCK = threading.Lock()


def shared_encoder(name: str) -> TextEncoder:
    """One loaded encoder per model name for the whole process (loading takes seconds; encode is thread-safe)."""
    with _SHARED_LOCK:
        if name not in _SHARED:
            _SHARED[name] = TextEncoder(name)
        return _SHARED[name]
