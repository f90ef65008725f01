"""Serving: a user's top-k from a model version, with the history items that explain each pick.
Thumbs act at once: downs are never shown again, ups join the user's history (the list shifts)."""
from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.ann import ANN_MIN_ITEMS, CALIBRATION_USERS, AnnIndex, index_for, top_k_with_index
from recsys.errors import RecTuneError
from recsys.feedback import FeedbackLedger
from recsys.ranking import position_of, rank
from recsys.rerank import Catalog, Reranker, catalog_of, top_candidates
from recsys.sequences import UserLog
from recsys.serving import ServingModel
from recsys.workspace import Workspace


@dataclass(frozen=True)
class Recommendation:
    item_id: str
    rank: int
    score: float
    because: tuple[str, ...] = ()  # history item ids that pull this item up most
    first_score: float | None = None  # with a re-ranker: the first stage's score (score is then the fused one)
    rerank_score: float | None = None  # with a re-ranker: the cross-encoder's score of (history, item)


class Recommender:
    """One model version over one workspace's data and ledger; read-only, safe to share between threads."""

    def __init__(self, model: ServingModel, interactions: pd.DataFrame | UserLog, ledger: FeedbackLedger | None = None,
                 version: str = "", reranker: Reranker | None = None, catalog: Catalog | None = None,
                 folder: Path | None = None, ann_min_items: int = ANN_MIN_ITEMS) -> None:
        self.model, self.ledger, self.version = model, ledger, version
        self.reranker, self.catalog = reranker, catalog  # the optional second stage (rerank.py)
        self.item_ids = model.item_ids
        self.index = pd.Index(model.item_ids)
        log = interactions if isinstance(interactions, UserLog) else UserLog.of(interactions)
        self.sequences = log.sequences(model.item_ids)
        self.folder = folder  # the version's folder: a built approximate index is saved there
        self.ann_min_items = ann_min_items  # catalogs this large serve full lists through ann.py
        self._ann: AnnIndex | None = None
        self._users: list[str] | None = None
        self._ann_lock = threading.Lock()

    @classmethod
    def from_workspace(cls, ws: Workspace, version: str | None = None) -> Recommender:
        name = version or ws.active_name()
        if name is None:
            raise RecTuneError(f"workspace '{ws.name}' has no model yet; run a training round first.")
        model = ServingModel.load(ws.models_dir / name)
        reranker = Reranker.load(ws.models_dir / name)
        if reranker:  # the catalog and the log of one data set (an import may switch it meanwhile)
            dataset = ws.load_dataset()
            log, catalog = UserLog.of(dataset.interactions), catalog_of(dataset.items, model.item_ids,
                                                                          reranker.fusion.history)
        else:
            log, catalog = ws.user_log(), None
        return cls(model, log, FeedbackLedger(ws.ledger_path), name, reranker, catalog, folder=ws.models_dir / name)

    def first_stage(self) -> Recommender:
        """The same model without its re-ranker (to compare or time the stages)."""
        out = copy.copy(self)
        out.reranker = None
        return out

    def users(self) -> list[str]:
        """Every user id, sorted as strings (computed once: pickers ask on every rerun)."""
        if self._users is None:
            self._users = sorted(self.sequences)
        return self._users

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

    def scores(self, user_id: str, ups: list[int] = (), hide_last: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(scores over all items, the history used). Thumbs-ups count as the most recent history; hide_last:
        as if the user's last logged interaction had not happened yet."""
        vector, history = self._user(user_id, ups, hide_last)
        return self.model.scores(vector[None, :])[0], history

    def _user(self, user_id: str, ups: list[int], hide_last: bool) -> tuple[np.ndarray, np.ndarray]:
        logged = self.history(user_id)
        history = np.concatenate([logged[:-1] if hide_last else logged, np.array(ups, dtype=np.int64)])
        return self.model.user_vector(history), history

    def uses_index(self, candidates: list[str] | None = None) -> bool:
        """Full lists of a large catalog come from the approximate index (ann.py) when it reached its recall
        target; a candidate shelf, a re-ranker, small catalogs and an index below target are scored exactly."""
        return (candidates is None and self.reranker is None and len(self.item_ids) >= self.ann_min_items
                and self.ann().meets_target)

    def calibration_users(self) -> list[str]:
        """The users the approximate index is calibrated on: a fixed sample of up to CALIBRATION_USERS."""
        users = self.users()
        pick = np.random.default_rng(0).choice(len(users), min(len(users), CALIBRATION_USERS), replace=False)
        return [users[i] for i in np.sort(pick)]

    def ann(self) -> AnnIndex:
        """The version's approximate index, loaded or built (and calibrated on this data's users) once."""
        with self._ann_lock:
            if self._ann is None:
                hidden = [self.sequences[u] for u in self.calibration_users()]
                vectors = np.stack([self.model.user_vector(h) for h in hidden]) if hidden else \
                    np.zeros((0, self.model.item_out.shape[1]), np.float32)
                ann = index_for(self.folder, self.model.item_out, self.model.item_bias, vectors, hidden)
                self._ann = ann if ann.meets_target else AnnIndex(None, ann.stats)  # never searched: not held
            return self._ann

    def recommend(self, user_id: str, k: int = 10, candidates: list[str] | None = None,
                  use_feedback: bool = True, explain: int = 3, hide_last: bool = False) -> list[Recommendation]:
        """Top k, never an item the user already has (history or thumbs-up) nor a thumbs-down."""
        if self.uses_index(candidates):
            return self._from_index(user_id, k, use_feedback, explain, hide_last)
        scores, hidden, history = self._scored(user_id, use_feedback, hide_last)
        allowed = self._allowed(candidates)
        if self.reranker is not None:
            return self._reranked(scores, history, hidden, allowed, k, explain)
        picks = rank(scores[None, :], k, exclude=(np.zeros(len(hidden), dtype=np.int64), hidden), allowed=allowed)[0]
        reasons = self.explain_list(history, picks, explain)
        return [Recommendation(str(self.item_ids[j]), pos + 1, float(scores[j]), reasons[pos])
                for pos, j in enumerate(picks)]

    def _from_index(self, user_id: str, k: int, use_feedback: bool, explain: int, hide_last: bool):
        """recommend() through the approximate index: the same hidden items, exact scores of the picks."""
        ups, downs = self._labels(user_id) if use_feedback else ([], [])
        vector, history = self._user(user_id, ups, hide_last)
        hidden = np.unique(np.concatenate([history, np.array(downs, dtype=np.int64)]))
        hidden = hidden[hidden >= 0]
        picks = top_k_with_index(self.ann(), vector, hidden, k)
        if len(picks) < min(k, len(self.item_ids) - len(hidden)):  # the searched part was mostly hidden items
            scores = self.model.scores(vector[None, :])[0]
            picks = rank(scores[None, :], k, exclude=(np.zeros(len(hidden), dtype=np.int64), hidden))[0]
        scores = self.model.item_out[picks] @ vector + self.model.item_bias[picks]
        order = np.argsort(-scores, kind="stable")
        picks, scores = picks[order], scores[order]
        reasons = self.explain_list(history, picks, explain)
        return [Recommendation(str(self.item_ids[j]), pos + 1, float(s), reasons[pos])
                for pos, (j, s) in enumerate(zip(picks, scores))]

    def _reranked(self, scores: np.ndarray, history: np.ndarray, hidden: np.ndarray, allowed: np.ndarray | None,
                  k: int, explain: int) -> list[Recommendation]:
        """The first stage's top N (of its `scores`), re-scored by the cross-encoder and fused; the top k."""
        top_n = max(self.reranker.fusion.top_n, k)
        picks, first = top_candidates(scores, top_n, hidden, allowed)
        if len(picks) == 0:
            return []
        fused, second = self.reranker.rescore(self.catalog, history, picks, first)
        order = np.argsort(-fused, kind="stable")[:k]
        reasons = self.explain_list(history, picks[order], explain)
        return [Recommendation(str(self.item_ids[picks[o]]), pos + 1, float(fused[o]), reasons[pos],
                               float(first[o]), float(second[o])) for pos, o in enumerate(order)]

    def rank_of(self, user_id: str, item_id: str, hide_last: bool = False) -> int | None:
        """Where `item_id` would rank in the user's full list (1 = first), the same items hidden as in
        recommend() except the item itself; None for an unknown item."""
        item = int(self.index.get_indexer([str(item_id)])[0])
        if item < 0:
            return None
        scores, hidden, history = self._scored(user_id, True, hide_last)
        if self.reranker is not None:  # within the re-ranked top N the fused order counts; below it, the first stage's
            top = [r.item_id for r in self._reranked(scores, history, hidden, None, self.reranker.fusion.top_n, 0)]
            if str(item_id) in top:
                return top.index(str(item_id)) + 1
        return position_of(scores, item, hidden)

    def _scored(self, user_id: str, use_feedback: bool, hide_last: bool):
        """(scores, item indices hidden from the list, the history used)."""
        ups, downs = self._labels(user_id) if use_feedback else ([], [])
        scores, history = self.scores(user_id, ups, hide_last)
        hidden = np.concatenate([history, np.array(downs, dtype=np.int64)])
        return scores, hidden[hidden >= 0], history

    def _allowed(self, candidates: list[str] | None) -> np.ndarray | None:
        if candidates is None:
            return None
        allowed = np.zeros(len(self.item_ids), dtype=bool)
        idx = self.index.get_indexer([str(c) for c in candidates])
        allowed[idx[idx >= 0]] = True
        return allowed

    def explain(self, history: np.ndarray, item: int, n: int = 3) -> tuple[str, ...]:
        """The n history items that pull `item`'s score up most (ServingModel.pulls)."""
        return self.explain_list(history, np.array([item]), n)[0]

    def explain_list(self, history: np.ndarray, items: np.ndarray, n: int = 3) -> list[tuple[str, ...]]:
        """For each item of a list, the n history items behind it, specific to it: a history item that pulls
        every pick up alike (a recent one, say) explains none of them in particular, so each pull is ranked
        by how far it exceeds that history item's mean pull over the list. Only positive pulls count."""
        recent = history[history >= 0][-self.model.max_history:]
        if n == 0 or len(recent) == 0 or len(items) == 0:
            return [()] * len(items)
        pulls = np.stack([self.model.pulls(recent, int(j)) for j in items])  # (len(items), len(recent))
        specific = pulls - pulls.mean(axis=0) if len(items) > 1 else pulls
        out = []
        for row, j in enumerate(items):
            order = np.argsort(-specific[row], kind="stable")
            ids = dict.fromkeys(str(self.item_ids[recent[i]]) for i in order
                                if pulls[row, i] > 0 and recent[i] != j)
            out.append(tuple(ids)[:n])
        return out

    def recommend_frame(self, users: list[str], k: int = 10, candidates: list[str] | None = None) -> pd.DataFrame:
        """user_id, item_id, rank, score for every user (the CLI's and the referee's format)."""
        rows = [(u, r.item_id, r.rank, r.score) for u in users
                for r in self.recommend(u, k, candidates, explain=0)]
        return pd.DataFrame(rows, columns=["user_id", "item_id", "rank", "score"])


def serving_index(model: ServingModel, interactions: pd.DataFrame) -> AnnIndex | None:
    """The approximate index a version of a large catalog serves from (None below ANN_MIN_ITEMS items), built
    when the version is made, so that no page waits for it; saved beside the version by its writer."""
    if len(model.item_ids) < ANN_MIN_ITEMS:
        return None
    return Recommender(model, interactions).ann()


def label_queue(rec: Recommender, n: int = 20) -> list[str]:
    """Users most worth labelling next: those with the fewest thumbs so far, the most active first
    (their lists are seen most, and a first label moves a list more than a tenth one)."""
    labelled = rec.ledger.current_labels()["user_id"].value_counts() if rec.ledger is not None else None
    def priority(user: str) -> tuple[int, int, str]:
        done = int(labelled.get(user, 0)) if labelled is not None else 0
        return done, -len(rec.sequences[user]), user
    return sorted(rec.sequences, key=priority)[:n]
