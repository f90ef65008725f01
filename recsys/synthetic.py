"""Synthetic data of known shape for benchmarks and tests (never shown as real data): a serving model whose item
vectors have a taste structure, and its behaviour log."""
from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.serving import ServingModel


def taste_catalog(n: int, dim: int = 128, n_users: int = 300, topics: int = 2000, history: int = 30,
                  seed: int = 0) -> tuple[ServingModel, pd.DataFrame]:
    """A model of n items around `topics` random centres (noise 0.8 of a centre's scale, as a trained model's
    item vectors group by taste), and a log in which each user's `history` items come from 3 topics."""
    rng = np.random.default_rng(seed)
    topic = rng.integers(0, topics, n)
    vec = ((rng.standard_normal((topics, dim), dtype=np.float32)[topic]
            + 0.8 * rng.standard_normal((n, dim), dtype=np.float32)) * 0.1).astype(np.float32)
    ids = np.array([f"i{i:07d}" for i in range(n)], dtype=object)
    model = ServingModel(ids, vec, vec, (0.1 * rng.standard_normal(n)).astype(np.float32), np.zeros(50, np.float32),
                         np.zeros((dim, 384), np.float32), np.zeros((dim, 384), np.float32))
    members = pd.Series(np.arange(n)).groupby(topic).agg(list)
    frames = []
    for u in range(n_users):
        pool = np.concatenate([members[t] for t in rng.choice(members.index, 3, replace=False)])
        picks = rng.choice(pool, min(history, len(pool)), replace=False)
        frames.append(pd.DataFrame({"user_id": f"u{u:04d}", "item_id": ids[picks], "timestamp": np.arange(len(picks))}))
    log = pd.concat(frames, ignore_index=True)
    return model, log.assign(row=np.arange(len(log)))


WORDS = ("love night house river garden shadow letter winter city stone fire island secret summer road heart star "
         "mountain silence world dream king daughter ghost war child light crown glass forest bridge voice sea storm "
         "memory promise journey name wolf rose empire book song mirror door angel blood time moon bone salt iron").split()
SUBTITLES = ["A Novel", "A Memoir", "Stories", "A Mystery", "Poems", "A Thriller", "The Complete Guide",
             "A Love Story", "Book One", "An Illustrated History"]


def large_ratings_set(folder, n_ratings: int = 1_030_000, n_users: int = 100_000, n_items: int = 250_000,
                      seed: int = 0) -> tuple:
    """Write a synthetic ratings set of the shape of the public Book-Crossing data (1.15M ratings, ~100k users,
    ~270k books with title, author, publisher and year; most ratings 0 = implicit; no time column) to `folder`:
    `ratings.csv` (user, isbn, rating; about 1M rows once repeated pairs are dropped) and `books.csv`. Popularity
    and activity are long-tailed, and each user leans to two of 40 genres that the titles' words show. Returns
    the two paths."""
    from pathlib import Path
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    genres = 40
    genre = rng.integers(0, genres, n_items)
    books = _books(genre, genres, rng)
    popularity = 1.0 / (np.arange(n_items) + 10.0) ** 0.9
    rng.shuffle(popularity)
    activity = rng.lognormal(0.0, 1.3, n_users)
    user = rng.choice(n_users, n_ratings, p=activity / activity.sum())
    taste = rng.integers(0, genres, (n_users, 2))
    by_genre = [np.flatnonzero(genre == g) for g in range(genres)]
    item = rng.choice(n_items, n_ratings, p=popularity / popularity.sum())
    in_taste = rng.random(n_ratings) < 0.6  # 60% of a user's books come from their two genres
    for g in range(genres):
        rows = np.flatnonzero(in_taste & (taste[user, rng.integers(0, 2, n_ratings)] == g))
        p = popularity[by_genre[g]]
        item[rows] = by_genre[g][rng.choice(len(p), len(rows), p=p / p.sum())]
    explicit = rng.random(n_ratings) < 0.38
    rating = np.where(explicit, np.clip(np.round(rng.normal(7.6, 1.8, n_ratings)), 1, 10), 0).astype(int)
    ratings = pd.DataFrame({"User-ID": user + 1, "ISBN": books["ISBN"].to_numpy()[item], "Book-Rating": rating})
    ratings = ratings.drop_duplicates(["User-ID", "ISBN"])
    paths = folder / "ratings.csv", folder / "books.csv"
    ratings.to_csv(paths[0], index=False, sep=";")
    books.to_csv(paths[1], index=False, sep=";")
    return paths


def _books(genre: np.ndarray, genres: int, rng: np.random.Generator) -> pd.DataFrame:
    """Book-Crossing's columns: titles from words each genre favours, invented authors and publishers."""
    n_items = len(genre)
    genre_words = rng.integers(0, len(WORDS), (genres, 6))  # each genre favours 6 words in its titles
    own = genre_words[genre, rng.integers(0, 6, (2, n_items))]
    other = rng.integers(0, len(WORDS), n_items)
    words = np.array(WORDS, dtype=object)
    sub = np.array(SUBTITLES, dtype=object)[rng.integers(0, len(SUBTITLES), n_items)]
    title = ("The " + pd.Series(words[own[0]]).str.capitalize() + " of " + pd.Series(words[other]).str.capitalize()
             + " " + pd.Series(words[own[1]]).str.capitalize())
    title = title.where(rng.random(n_items) < 0.6, title + ": " + sub)
    first = np.array([f"{c}{v}" for c in "BDFGKLMNPRST" for v in ("ana", "elo", "ira", "orn", "ust")], dtype=object)
    last = np.array([f"{c}{v}" for c in "BCDHKLMNPRSTVW" for v in ("ark", "erson", "ill", "ovic", "aard", "ley")],
                    dtype=object)
    return pd.DataFrame({
        "ISBN": pd.Series(rng.choice(10**10 - 10**9, n_items, replace=False) + 10**9).astype(str).str.zfill(10),
        "Book-Title": title,
        "Book-Author": pd.Series(first[rng.integers(0, len(first), n_items)]) + " "
        + pd.Series(last[rng.integers(0, len(last), n_items)]),
        "Year-Of-Publication": rng.integers(1950, 2005, n_items),
        "Publisher": "Press " + pd.Series(rng.integers(0, 2000, n_items)).astype(str)})
