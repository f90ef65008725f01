"""Approximate top-k for large catalogs, over each item's serving vector with its bias as one more column (so a user's
inner product with an indexed row is exactly the model's score). Two FAISS index kinds, chosen per catalog on the
catalog's own users (a fixed sample), with the items each user may not be shown hidden as in serving:
- an inner-product inverted file (IVF, about sqrt(n) lists): cheap to build; kept when visiting at most a quarter
  of its lists finds the exact top k at the recall target (the smallest power-of-two nprobe that does);
- else a graph (HNSW) over distances: one more column turns inner products into distances (Bachrach et al. 2014:
  sqrt(M^2 - |row|^2) for items, 0 for users), so the nearest rows are the best-scoring items. Slower to build; a
  search visits a few thousand rows whatever the catalog size (the smallest power-of-two efSearch that reaches the
  target, at most MAX_EF).
Measured: on a synthetic taste-structured catalog of 1M items the IVF reached recall@10 0.99 with 16 of 1,000 lists,
where HNSW at efSearch 1,024 gave 0.98; on ml-latest-small's trained vectors the IVF needed a third of its lists and
HNSW reached 0.995 at efSearch 128 (README)."""
from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from recsys.ranking import rank
from recsys.storage import atomic_write_bytes, unique_token

ANN_MIN_ITEMS = 200_000  # below this, exact scoring is fast enough (bench: p95 under 10 ms at 100,000 items)
RECALL_TARGET = 0.99  # recall@k against exact scoring on the calibration users
MAX_SCAN = 0.25  # the IVF is kept only if it reaches the target visiting at most this share of its lists
LINKS = 32  # HNSW neighbours per node
EF_CONSTRUCTION = 80  # HNSW build-time search width
MAX_EF = 1024  # the widest HNSW search calibration tries
CALIBRATION_USERS = 200
INDEX_FILE = "ann.index"
META_FILE = "ann.json"


@dataclass(frozen=True)
class AnnStats:
    """What the index was built with and how well it finds the exact top k."""

    n_items: int
    kind: str  # "ivf" | "hnsw"
    width: int  # the search width chosen by calibration: nprobe (ivf) or efSearch (hnsw)
    recall: float  # measured recall@k at that width, on `users` calibration users (nan: none to calibrate on)
    k: int
    users: int
    build_seconds: float
    lists: int = 0  # ivf: how many lists
    target: float = RECALL_TARGET  # the recall@k calibration aimed at


class AnnIndex:
    """Thread-safe for searching (each search passes its own parameters; the index is never mutated after build)."""

    def __init__(self, index, stats: AnnStats) -> None:
        self.index, self.stats = index, stats

    @property
    def meets_target(self) -> bool:
        """Whether calibration found the recall target (or there was nobody to calibrate on: the exact IVF). An
        index that missed it is not served from (recommend.Recommender.uses_index): lists are scored exactly.
        Measured: on a 250,000-item synthetic round's trained vectors neither kind reached 0.99 within its
        limits (HNSW 0.927 at efSearch 1,024)."""
        return not (self.stats.users > 0 and self.stats.recall < self.stats.target)

    def search(self, user: np.ndarray, n: int, width: int | None = None) -> np.ndarray:
        """Indices of the (about) n best items for one user vector, best first."""
        import faiss
        n = min(n, self.stats.n_items)
        if n <= 0:
            return np.zeros(0, dtype=np.int64)
        tail = [1.0] if self.stats.kind == "ivf" else [1.0, 0.0]  # inner products (ivf) or distances (hnsw)
        query = np.concatenate([user, tail]).astype(np.float32)[None, :]
        width = width or self.stats.width
        params = faiss.SearchParametersIVF(nprobe=width) if self.stats.kind == "ivf" else \
            faiss.SearchParametersHNSW(efSearch=max(width, n))
        _, idx = self.index.search(query, n, params=params)
        found = idx[0]
        return found[found >= 0].astype(np.int64)

    def save(self, folder: Path) -> None:
        """The index written straight to a file of its own and renamed into place (no in-memory copy of it); an
        index that missed its recall target is not held (recommend.Recommender.ann): only its stats are written,
        which say to score lists exactly."""
        import faiss
        if self.index is None:
            (folder / INDEX_FILE).unlink(missing_ok=True)
        else:
            tmp = folder / f".{INDEX_FILE}.{unique_token()}"
            try:
                faiss.write_index(self.index, str(tmp))
                os.replace(tmp, folder / INDEX_FILE)
            finally:
                tmp.unlink(missing_ok=True)
        atomic_write_bytes(folder / META_FILE, json.dumps(asdict(self.stats), indent=1).encode())

    @classmethod
    def load(cls, folder: Path, n_items: int) -> AnnIndex | None:
        """The saved index, or None when there is none or it does not match this catalog's size. An index saved as
        missing its recall target comes back without its searchable part (never searched: lists are exact), so
        that no page builds it again. (Versions of 2026-11-30 and before saved such an index as the 4 bytes
        'null', which faiss reads back as None: on a 250,000-item round the Recommend, Compare and Explore pages
        failed on it.)"""
        import faiss
        try:
            stats = AnnStats(**json.loads((folder / META_FILE).read_text()))
            if stats.n_items != n_items:
                return None
            if not cls(None, stats).meets_target:
                return cls(None, stats)
            index = _read_index(faiss, folder / INDEX_FILE)
        except (OSError, ValueError, TypeError, RuntimeError):  # missing, cut or unreadable: built again
            return None
        return cls(index, stats) if index is not None and index.ntotal == n_items else None


def _read_index(faiss, path: Path):
    """The index with its vectors memory-mapped where faiss can (a 250,000-item HNSW index: 0.35 s read whole,
    0.05 s mapped; same results); else read whole."""
    flag = getattr(faiss, "IO_FLAG_MMAP_IFC", 0)
    if flag:
        try:
            return faiss.read_index(str(path), flag)
        except RuntimeError:
            pass
    return faiss.read_index(str(path))


def indexed_rows(item_out: np.ndarray, item_bias: np.ndarray) -> np.ndarray:
    """(n_items, dim + 1): [vector, bias], so that [user, 1] . row is the model's score."""
    return np.ascontiguousarray(np.hstack([item_out, item_bias[:, None]]), dtype=np.float32)


def distance_rows(item_out: np.ndarray, item_bias: np.ndarray) -> np.ndarray:
    """(n_items, dim + 2): indexed rows plus sqrt(M^2 - |row|^2), so that |[user, 1, 0] - row|^2 =
    |user|^2 + 1 + M^2 - 2 * score: the nearest rows are the best-scoring items."""
    rows = indexed_rows(item_out, item_bias)
    norms = (rows.astype(np.float64) ** 2).sum(1)
    return np.ascontiguousarray(np.hstack([rows, np.sqrt(norms.max() - norms)[:, None]]), dtype=np.float32)


def build_index(item_out: np.ndarray, item_bias: np.ndarray, users: np.ndarray, hidden: list[np.ndarray],
                k: int = 10, target: float = RECALL_TARGET, kinds: tuple[str, ...] = ("ivf", "hnsw")) -> AnnIndex:
    """The first of `kinds` that reaches `target` recall@k on the calibration `users` (vectors, with their `hidden`
    items excluded) within its limits, else the last one tried. With no users to calibrate on: an IVF visiting
    every list (exact results)."""
    t = time.perf_counter()
    truth = exact_top(item_out, item_bias, users, hidden, k) if len(users) else []
    ann = None
    for kind in kinds if len(users) else ("ivf",):
        if kind == "ivf":
            index, widths, lists = _ivf(indexed_rows(item_out, item_bias))
        else:
            index, widths, lists = _hnsw(distance_rows(item_out, item_bias))
        width, recall = widths[-1], float("nan")
        for width in (widths[:-1] if kind == "ivf" else widths) if len(users) else widths[-1:]:
            probe = AnnIndex(index, AnnStats(len(item_out), kind, width, 0.0, k, len(users), 0.0, lists))
            recall = recall_at(probe, users, hidden, truth, k) if len(users) else float("nan")
            if round(recall, 4) >= target:
                break
        ann = AnnIndex(index, AnnStats(len(item_out), kind, width, round(recall, 4), k, len(users),
                                       round(time.perf_counter() - t, 2), lists, target))
        if ann.meets_target:  # the saved (rounded) recall decides, here as when serving
            break
    return ann


def _ivf(rows: np.ndarray) -> tuple[object, list[int], int]:
    """An inner-product IVF over the indexed rows with about sqrt(n) lists, k-means on a fixed sample; its nprobe
    ladder up to MAX_SCAN of the lists, then every list (used only when there is nobody to calibrate on). Inner
    product, not the distance rows: on the 1M-item synthetic catalog the distance column cost the IVF its recall
    (0.99 at 16 lists before, not reached at 250 with it)."""
    import faiss
    n, dim = rows.shape
    lists = max(1, min(int(round(math.sqrt(n))), n // 39))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = 0
    sample = rows[np.sort(np.random.default_rng(0).choice(n, size=min(n, 64 * lists), replace=False))]
    index.train(sample)
    index.add(rows)
    ladder = [w for w in (2 ** i for i in range(20)) if w <= max(1, int(lists * MAX_SCAN))]
    return index, ladder + [lists], lists


def _hnsw(rows: np.ndarray) -> tuple[object, list[int], int]:
    import faiss
    index = faiss.IndexHNSWFlat(rows.shape[1], LINKS, faiss.METRIC_L2)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # a parallel build links nodes in thread-timing order: one thread, one graph
    try:
        index.add(rows)
    finally:
        faiss.omp_set_num_threads(threads)
    return index, [w for w in (2 ** i for i in range(4, 11)) if w <= MAX_EF], 0


def exact_top(item_out: np.ndarray, item_bias: np.ndarray, users: np.ndarray, hidden: list[np.ndarray],
              k: int) -> list[np.ndarray]:
    """Each user's exact top k with their hidden items excluded (the serving rule, ranking.rank)."""
    out = []
    for start in range(0, len(users), 64):
        block = users[start:start + 64] @ item_out.T + item_bias
        for row, scores in enumerate(block):
            out += rank(scores[None, :], k, exclude=(np.zeros(len(hidden[start + row]), np.int64),
                                                     hidden[start + row]))
    return out


def top_k_with_index(ann: AnnIndex, user: np.ndarray, hidden: np.ndarray, k: int, width: int | None = None) -> np.ndarray:
    """The top k not hidden: the index is asked for k plus as many as are hidden, so that removing them still
    leaves k (fewer only when the catalog itself runs out)."""
    found = ann.search(user, k + len(hidden), width)
    return found[~np.isin(found, hidden)][:k]


def recall_at(ann: AnnIndex, users: np.ndarray, hidden: list[np.ndarray], truth: list[np.ndarray], k: int,
              width: int | None = None) -> float:
    hits = sum(len(np.intersect1d(top_k_with_index(ann, u, h, k, width), t)) for u, h, t in zip(users, hidden, truth))
    total = sum(len(t) for t in truth)
    return hits / total if total else 1.0


_LOCK = threading.Lock()


def index_for(folder: Path | None, item_out: np.ndarray, item_bias: np.ndarray, users: np.ndarray,
              hidden: list[np.ndarray]) -> AnnIndex:
    """The version's saved index, else one built now (and saved beside the version when it has a folder)."""
    with _LOCK:
        if folder is not None:
            saved = AnnIndex.load(folder, len(item_out))
            if saved is not None:
                return saved
        ann = build_index(item_out, item_bias, users, hidden)
        if folder is not None and folder.is_dir():
            ann.save(folder)
        return ann
