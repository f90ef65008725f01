"""Serving: a user's top-k from a model version, with the history items that explain each pick.
Thumbs act at once: downs are never shown again, ups join the user's history (the list shifts)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.errors import RecTuneError
from recsys.feedback import FeedbackLedger
from recsys.ranking import rank
from recsys.sequences import user_sequences
from recsys.serving import ServingModel
from recsys.workspace import Workspace


@dataclass(frozen=True)
class Recommendation:
    item_id: str
    rank: int
    score: float
    because: tuple[str, ...] = ()  # history item ids that pull this item up most


class Recommender:
    """One model version over one workspace's data and ledger; read-only, safe to share between threads."""

    def __init__(self, model: ServingModel, interactions: pd.DataFrame, ledger: FeedbackLedger | None = None,
                 version: str = "") -> None:
        self.model, self.ledger, self.version = model, ledger, version
        self.item_ids = model.item_ids
        self.index = pd.Index(model.item_ids)
        self.sequences = user_sequences(interactions, model.item_ids)

    @classmethod
    def from_workspace(cls, ws: Workspace, version: str | None = None) -> Recommender:
        name = version or ws.active_name()
        if name is None:
            raise RecTuneError(f"workspace '{ws.name}' has no model yet; run a training round first.")
        model = ServingModel.load(ws.models_dir / name)
        return cls(model, ws.load_dataset().interactions, FeedbackLedger(ws.ledger_path), name)

    def users(self) -> list[str]:
        return sorted(self.sequences)

    def history(self, user_id: str) -> np.ndarray:
        """Item indices the user interacted with, oldest first (thumbs-ups not included)."""
        return self.sequences.get(str(user_id), np.zeros(0, dtype=np.int64))

    def _labels(self, user_id: str) -> tuple[list[int], list[int]]:
        if self.ledger is None:
            return [], []
        df = self.ledger.current_labels(str(user_id))
        idx = self.index.get_indexer(df["item_id"].astype(str))
        return [i for i, lab in zip(idx, df["label"]) if i >= 0 and lab == "up"], \
               [i for i, lab in zip(idx, df["label"]) if i >= 0 and lab == "down"]

    def scores(self, user_id: str, ups: list[int] = ()) -> tuple[np.ndarray, np.ndarray]:
        """(scores over all items, the history used). Thumbs-ups count as the most recent history."""
        history = np.concatenate([self.history(user_id), np.array(ups, dtype=np.int64)])
        return self.model.scores(self.model.user_vector(history)[None, :])[0], history

    def recommend(self, user_id: str, k: int = 10, candidates: list[str] | None = None,
                  use_feedback: bool = True, explain: int = 3) -> list[Recommendation]:
        """Top k, never an item the user already has (history or thumbs-up) nor a thumbs-down."""
        ups, downs = self._labels(user_id) if use_feedback else ([], [])
        scores, history = self.scores(user_id, ups)
        hidden = np.concatenate([history, np.array(downs, dtype=np.int64)])
        hidden = hidden[hidden >= 0]
        picks = rank(scores[None, :], k, exclude=(np.zeros(len(hidden), dtype=np.int64), hidden),
                     allowed=self._allowed(candidates))[0]
        return [Recommendation(str(self.item_ids[j]), pos + 1, float(scores[j]), self.explain(history, j, explain))
                for pos, j in enumerate(picks)]

    def _allowed(self, candidates: list[str] | None) -> np.ndarray | None:
        if candidates is None:
            return None
        allowed = np.zeros(len(self.item_ids), dtype=bool)
        idx = self.index.get_indexer([str(c) for c in candidates])
        allowed[idx[idx >= 0]] = True
        return allowed

    def explain(self, history: np.ndarray, item: int, n: int = 3) -> tuple[str, ...]:
        """The n history items that pull `item`'s score up most (ServingModel.pulls)."""
        recent = history[history >= 0][-self.model.max_history:]
        if n == 0 or len(recent) == 0:
            return ()
        pull = self.model.pulls(recent, item)
        order = np.argsort(-pull, kind="stable")
        ids = dict.fromkeys(str(self.item_ids[recent[i]]) for i in order if pull[i] > 0 and recent[i] != item)
        return tuple(ids)[:n]

    def recommend_frame(self, users: list[str], k: int = 10, candidates: list[str] | None = None) -> pd.DataFrame:
        """user_id, item_id, rank, score for every user (the CLI's and the referee's format)."""
        rows = [(u, r.item_id, r.rank, r.score) for u in users
                for r in self.recommend(u, k, candidates, explain=0)]
        return pd.DataFrame(rows, columns=["user_id", "item_id", "rank", "score"])


def label_queue(rec: Recommender, n: int = 20) -> list[str]:
    """Users most worth labelling next: those with the fewest thumbs so far, the most active first
    (their lists are seen most, and a first label moves a list more than a tenth one)."""
    labelled = rec.ledger.current_labels()["user_id"].value_counts() if rec.ledger is not None else None
    def priority(user: str) -> tuple[int, int, str]:
        done = int(labelled.get(user, 0)) if labelled is not None else 0
        return done, -len(rec.sequences[user]), user
    return sorted(rec.sequences, key=priority)[:n]
