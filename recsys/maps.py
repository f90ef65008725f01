"""Data for the embedding map: item and user coordinates of one or two model versions on one layout."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.encoder import EmbeddingCache
from recsys.errors import RecTuneError
from recsys.projection import alignment, project
from recsys.serving import UNTUNED_WINDOW, ServingModel
from recsys.workspace import Workspace

# The most items a map draws: larger catalogs are sampled. The browser draws both maps' points (the before/after
# switch needs no rerun): a warm Explore visit at 250,000 items took 2.9 s with 20,000 drawn and 2.4 s with 10,000
# (the server's rerun 0.19 s); the demo's 1,600 take 0.7 s.
MAP_ITEMS = 5_000


@dataclass(frozen=True)
class MapData:
    """items: item_id, title, category, popularity, x, y; users: user_id, x, y (PCA maps only);
    total_items: the catalog's size (more than len(items) when the map shows a sample)."""

    items: pd.DataFrame
    users: pd.DataFrame
    total_items: int = 0

    @property
    def sampled(self) -> bool:
        return self.total_items > len(self.items)


def map_sample(item_ids: np.ndarray, keep: tuple[str, ...] = (), limit: int | None = None, seed: int = 0) -> np.ndarray:
    """Row indices of the items a map draws, in catalog order: all of them up to `limit`; above it, the `keep`
    items (the chosen user's) plus a fixed random sample, so two maps given the same `keep` draw the same items."""
    n, limit = len(item_ids), limit or MAP_ITEMS
    if n <= limit:
        return np.arange(n)
    wanted = pd.Index(item_ids).get_indexer(list(keep))
    wanted = np.unique(wanted[wanted >= 0])[: limit // 2]
    order = np.random.default_rng(seed).permutation(n)
    rest = order[~np.isin(order, wanted)][: limit - len(wanted)]
    return np.sort(np.concatenate([wanted, rest]))


def _aligned(coords: np.ndarray, item_ids: np.ndarray, target):
    """The Procrustes alignment onto `target`: (n, 2) coordinates of the same rows, or a frame of item_id, x, y
    (another version's map: aligned on the items both draw, which differ when catalogs or samples do)."""
    if not isinstance(target, pd.DataFrame):
        return alignment(coords, np.asarray(target))
    where = target.drop_duplicates("item_id").set_index("item_id")[["x", "y"]]
    shared = where.index.get_indexer(item_ids) >= 0  # hashed: np.isin sorts object arrays (0.4 s at 250,000)
    if shared.sum() < 3:
        raise RecTuneError("these two versions share too few items to be drawn on one layout; compare with the "
                           "untuned text embeddings instead.")
    return alignment(coords[shared], where.loc[item_ids[shared]].to_numpy())


def build_map(ws: Workspace, version: str, space: str = "tuned", method: str = "pca", max_users: int = 400,
              align_to: np.ndarray | pd.DataFrame | None = None, extra_users: tuple[str, ...] = (),
              keep_items: tuple[str, ...] = (), max_items: int | None = None,
              sequences: dict[str, np.ndarray] | None = None, items: pd.DataFrame | None = None) -> MapData:
    """Project the version's items (at most `max_items`, default MAP_ITEMS: a sample that always holds
    `keep_items`) and, on PCA maps, a sample of users plus `extra_users`, to 2-D; `align_to` (another map's
    item_id, x, y frame, or (n, 2) coordinates of the same rows) rotates this map onto it so the two compare.
    `sequences`: the users' item-index histories over this version's items, when the caller has them (a
    Recommender's), else read from the log; `items`: the data set's catalog, when the caller has it."""
    catalog = ws.load_items() if items is None else items  # the catalog and the per-user log, not the 1M-row log
    model, log = ServingModel.load(ws.models_dir / version), ws.user_log()
    total, rows = len(model.item_ids), map_sample(model.item_ids, keep_items, max_items)
    if sequences is None:
        sequences = log.sequences(model.item_ids)
    chosen = sorted(set(sorted(sequences)[:max_users]) | {u for u in extra_users if u in sequences})
    histories = [sequences[u] for u in chosen]
    if space == "text":
        model, rows, histories = _text_space(ws, version, model.item_ids, catalog, rows, histories)
    proj = project(model.item_out[rows], method)
    moved = _aligned(proj.coords, model.item_ids[rows], align_to) if align_to is not None else None
    coords = moved.apply(proj.coords) if moved is not None else proj.coords
    counts = pd.Series(np.bincount(log.items, minlength=len(log.item_ids)), index=log.item_ids)
    indexed = catalog if catalog.index.name == "item_id" else catalog.set_index("item_id", drop=False)
    catalog = indexed.drop(columns="item_id").reindex(model.item_ids[rows]).rename_axis("item_id").reset_index()
    items = catalog.assign(popularity=catalog["item_id"].map(counts).fillna(0).astype(int),
                           x=coords[:, 0], y=coords[:, 1])
    users = pd.DataFrame(columns=["user_id", "x", "y"])
    if proj.axes is not None:
        xy = proj.place(model.user_vectors(histories))
        xy = moved.apply(xy) if moved is not None else xy  # users turn with their items
        users = pd.DataFrame({"user_id": chosen, "x": xy[:, 0], "y": xy[:, 1]})
    return MapData(items[["item_id", "title", "category", "popularity", "x", "y"]], users, total)


def _text_space(ws: Workspace, version: str, item_ids: np.ndarray, catalog: pd.DataFrame, rows: np.ndarray,
                histories: list[np.ndarray]) -> tuple[ServingModel, np.ndarray, list[np.ndarray]]:
    """The 'text' space (the untuned scorer over the frozen encoder's embeddings, as the Evaluate page scores
    'untuned-encoder') over only the items a map needs, its drawn rows and the recent items that place
    its users (looking up all 250,000 texts took ~0.5 s of Explore's first visit, mostly hashing them); returns it
    with `rows` and `histories` as indices into it. `catalog` rows follow `item_ids`."""
    recent = [h[h >= 0][-UNTUNED_WINDOW:] for h in histories]
    needed = np.unique(np.concatenate([rows, *recent]).astype(np.int64))
    texts = catalog["text"].to_numpy()[needed].tolist()
    vectors = EmbeddingCache.lookup(ws.cache_dir, ws.version(version).encoder_key, texts)
    if vectors is None:
        raise RecTuneError("the untuned text embeddings are not cached; train a round to create them.")
    where = np.full(len(item_ids), -1, dtype=np.int64)
    where[needed] = np.arange(len(needed))
    return ServingModel.untuned(item_ids[needed], vectors), where[rows], [where[h] for h in recent]


UNTUNED = "untuned text embeddings"  # Explore's "compare with" choice of the frozen encoder's own space
NOTHING = "nothing"


def highlights(rec, user: str) -> tuple[dict[str, list[str]], tuple[str, ...]]:
    """What Explore marks for `user` (history, last item, top 10, the user) and the items a sampled map must
    draw for it (a full map draws them anyway: no key change, no re-projection). rec: a recommend.Recommender."""
    history = [rec.item_ids[i] for i in rec.history(user)]
    marked = {"history": history[:-1], "last item": history[-1:],
              "top 10": [r.item_id for r in rec.recommend(user, 10, explain=0)], "user": [user]}
    keep = tuple(dict.fromkeys(history[-MAP_ITEMS // 4:] + marked["top 10"])) if len(rec.item_ids) > MAP_ITEMS else ()
    return marked, keep


def map_pair(draw, after: str, before: str, method: str, user: str, keep: tuple[str, ...]) -> list[tuple[str, MapData]]:
    """Explore's maps: version `after` as it serves and, unless `before` is NOTHING, the untuned text space
    (UNTUNED) or another version, rotated onto the after map's layout. draw(version, space, method, align_to,
    extra_users, keep_items): a MapData (Service.embedding_map)."""
    maps = [(f"after: {after}", draw(after, "tuned", method, None, (user,), keep))]
    if before != NOTHING:
        space, other = ("text", after) if before == UNTUNED else ("tuned", before)
        target = maps[0][1].items[["item_id", "x", "y"]]
        maps.insert(0, (f"before: {before}", draw(other, space, method, target, (user,), keep)))
    return maps
