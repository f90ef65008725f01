"""A cross-encoder: the configured encoder's transformer with a one-logit classification head, reading a
(user's recent history, candidate item) text pair together. Trained listwise: each group is one positive and
its hard negatives, and a softmax over the group's logits is pushed toward the positive."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from recsys.devices import autocast, pick_device
from recsys.encoder_names import resolve_model
from recsys.errors import RecTuneError
from recsys.events import Callback, Cancelled, TrainEvent, emit

BATCH_PAIRS = 64  # pairs per forward pass when scoring
LOAD_ERRORS = (OSError, ValueError, KeyError, ImportError, RuntimeError)  # what transformers raises on a bad folder


class CrossEncoder:
    def __init__(self, model, tokenizer, device: str, max_length: int = 128, precision: str = "auto") -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.max_length, self.precision = max_length, precision
        # One model serves every session of the app: a fast tokenizer's padding settings are not thread-safe
        # ("Already borrowed"), and two forward passes at once would only fight over the cores.
        self.lock = threading.Lock()

    @classmethod
    def from_encoder(cls, name: str, device: str | None = None, max_length: int = 128,
                     precision: str = "auto", seed: int = 0) -> CrossEncoder:
        """A fresh head (seeded) on the transformer of encoder `name`."""
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        path = resolve_model(name)  # a pooling suffix is dropped: the head reads the transformer's first token
        torch.manual_seed(seed)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
        except LOAD_ERRORS as exc:
            raise RecTuneError(f"cannot build a re-ranker from encoder '{name}': {str(exc)[:200]}; use an encoder "
                               "whose folder transformers can load for sequence classification (BERT or GPT-2 "
                               "family), or train with --rerank off.") from None
        return cls._ready(model, tokenizer, device or pick_device(), max_length, precision)

    @staticmethod
    def check_base(name: str) -> None:
        """Fail in a second, before a round's minutes of work, when encoder `name` cannot carry a re-ranker."""
        from transformers import AutoConfig, AutoTokenizer
        from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES as HEADS
        try:
            model_type = AutoConfig.from_pretrained(resolve_model(name)).model_type
            AutoTokenizer.from_pretrained(resolve_model(name))
        except LOAD_ERRORS as exc:
            model_type, reason = None, str(exc)[:200]
        else:
            reason = f"transformers has no sequence-classification head for '{model_type}' models"
        if model_type not in HEADS:
            raise RecTuneError(f"cannot build a re-ranker from encoder '{name}': {reason}; use a BERT- or "
                               "GPT-2-family encoder, or train with --rerank off.")

    @classmethod
    def load(cls, folder: Path, device: str | None = None, max_length: int = 128) -> CrossEncoder:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder))
            model = AutoModelForSequenceClassification.from_pretrained(str(folder))
        except LOAD_ERRORS as exc:
            raise RecTuneError(f"the re-ranker of model version '{folder.parent.name}' cannot be read "
                               f"({str(exc)[:200]}): activate another version or retrain.") from None
        return cls._ready(model, tokenizer, device or pick_device(), max_length, "auto")

    @classmethod
    def _ready(cls, model, tokenizer, device: str, max_length: int, precision: str) -> CrossEncoder:
        if tokenizer.pad_token is None:  # GPT-2 family: no pad token of its own
            tokenizer.pad_token = tokenizer.eos_token
        model.config.pad_token_id = tokenizer.pad_token_id
        return cls(model.to(device).eval(), tokenizer, device, max_length, precision)

    def save(self, folder: Path) -> None:
        self.model.save_pretrained(str(folder), safe_serialization=True)
        self.tokenizer.save_pretrained(str(folder))

    def _batch(self, queries: list[str], docs: list[str]) -> dict:
        features = self.tokenizer(queries, docs, padding=True, truncation="longest_first",
                                  max_length=self.max_length, return_tensors="pt")
        return {k: v.to(self.device) for k, v in features.items()}

    def _logits(self, queries: list[str], docs: list[str]):
        with autocast(self.device, self.precision):
            return self.model(**self._batch(queries, docs)).logits[:, 0].float()

    def score(self, queries: list[str], docs: list[str]) -> np.ndarray:
        """(n,) logits of the pairs; higher = more likely the user's next item."""
        import torch
        out = np.zeros(len(docs), dtype=np.float32)
        with self.lock, torch.inference_mode():
            for start in range(0, len(docs), BATCH_PAIRS):
                end = start + BATCH_PAIRS
                out[start:end] = self._logits(queries[start:end], docs[start:end]).cpu().numpy()
        return out

    def train_groups(self, groups: list[tuple[str, list[str]]], lr: float, groups_per_step: int,
                     callbacks: list[Callback] = (), cancel: threading.Event | None = None) -> list[float]:
        """groups: (query, [positive doc, negative docs...]); one pass, listwise softmax cross-entropy."""
        import torch
        optim = torch.optim.AdamW(self.model.parameters(), lr=lr)
        losses, total = [], -(-len(groups) // groups_per_step)
        self.model.train()
        try:
            for start in range(0, len(groups), groups_per_step):
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                losses.append(self._step(groups[start:start + groups_per_step], optim))
                emit(list(callbacks), TrainEvent("rerank", len(losses), total, losses[-1], "training the re-ranker"))
        finally:
            self.model.eval()
        return losses

    def _step(self, chunk: list[tuple[str, list[str]]], optim) -> float:
        import torch
        sizes = [len(docs) for _, docs in chunk]
        queries = [q for q, docs in chunk for _ in docs]
        logits = self._logits(queries, [d for _, docs in chunk for d in docs])
        loss = torch.stack([-torch.log_softmax(part, 0)[0] for part in torch.split(logits, sizes)]).mean()
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        return float(loss.detach())
