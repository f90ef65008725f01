"""The bundled demo data: a synthetic bookshop, generated from a seed by this code (no real data).

Tastes are only partly visible in the text: users favour categories and authors (named in the text),
but also a hidden "tone" of each book that no text mentions, and they follow series and authors in
sequence. So a model that reads the text alone is good, and one tuned on behaviour is better. `GeneratorOdds`
ranks by the generator's own odds: about the best any model could do there (the benchmark prints it)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 7
CATEGORIES = {  # each noun belongs to one category, so two categories never make the same title
    "Mystery": (["Silent", "Hidden", "Crimson", "Last", "Broken", "Midnight", "Quiet", "Locked", "Pale", "Drowned",
                 "Stolen", "Shadowed"],
                ["Witness", "Alibi", "Harbour", "Verdict", "Key", "Lantern", "Cellar", "Suspect", "Motive", "Confession",
                 "Attic", "Clue"],
                "a detective story about {x} in a small coastal town"),
    "Science Fiction": (["Distant", "Iron", "Hollow", "Electric", "Final", "Orbital", "Fractured", "Silver", "Burning",
                         "Outer", "Endless", "Binary"],
                        ["Star", "Colony", "Signal", "Machine", "Frontier", "Engine", "Moon", "Nebula", "Outpost",
                         "Android", "Horizon", "Vessel"],
                        "a space adventure about {x} on a far colony"),
    "Cooking": (["Simple", "Rustic", "Everyday", "Smoky", "Green", "Slow", "Bright", "Hearty", "Sunday", "Fresh",
                 "Spiced", "Honest"],
                ["Kitchen", "Table", "Bread", "Feast", "Garden", "Pantry", "Oven", "Skillet", "Harvest", "Supper",
                 "Spice", "Orchard"],
                "recipes and kitchen stories about {x}"),
    "Travel": (["Northern", "Wild", "Lost", "Golden", "Winding", "Coastal", "High", "Southern", "Sunlit", "Misty",
                "Rugged", "Eastern"],
               ["Roads", "Islands", "Valleys", "Cities", "Trails", "Rivers", "Passes", "Coasts", "Lakes", "Deserts",
                "Villages", "Peaks"],
               "a travel guide to {x} with maps and walks"),
    "History": (["Forgotten", "Great", "Early", "Fallen", "Rising", "Old", "Hundred", "Ancient", "Divided", "Imperial",
                 "Bitter", "Long"],
                ["Empire", "Republic", "Dynasty", "Revolution", "Crown", "Border", "Treaty", "Kingdom", "Siege",
                 "Parliament", "Century", "Armada"],
                "a history of {x} told through letters and records"),
    "Poetry": (["Small", "Blue", "Tender", "Late", "Open", "Bare", "Winter", "Amber", "Soft", "Evening", "Scattered",
                "Paper"],
               ["Hours", "Songs", "Leaves", "Hymns", "Tides", "Lines", "Birds", "Psalms", "Verses", "Echoes", "Seasons",
                "Rain"],
               "a collection of poems about {x}"),
    "Business": (["Lean", "Bold", "Smart", "Agile", "Steady", "Focused", "Open", "Modern", "Lasting", "Scalable",
                  "Digital", "Practical"],
                 ["Strategy", "Leader", "Startup", "Market", "Team", "Growth", "Ledger", "Pitch", "Venture", "Brand",
                  "Margin", "Deal"],
                 "a business book on {x} for managers"),
    "Children": (["Little", "Happy", "Brave", "Sleepy", "Curious", "Funny", "Tiny", "Silly", "Busy", "Grumpy", "Jolly",
                  "Clumsy"],
                 ["Bear", "Dragon", "Rabbit", "Train", "Robot", "Owl", "Pirate", "Kitten", "Penguin", "Monster",
                  "Tractor", "Elephant"],
                 "a picture book about {x} for young readers"),
    "Science": (["Hidden", "Living", "Invisible", "Deep", "Quantum", "Wild", "Clever", "Restless", "Secret", "Elegant",
                 "Strange", "Fragile"],
                ["Universe", "Cell", "Brain", "Ocean", "Climate", "Atom", "Forest", "Gene", "Planet", "Volcano",
                 "Microbe", "Light"],
                "a popular science book explaining {x}"),
    "Self-Help": (["Calm", "Better", "Mindful", "Kind", "Clear", "Strong", "Gentle", "Patient", "Joyful", "Grateful",
                   "Resilient", "Unhurried"],
                  ["Habits", "Mind", "Morning", "Life", "Balance", "Focus", "Path", "Purpose", "Energy", "Sleep",
                   "Confidence", "Routine"],
                  "practical advice on {x} and daily routines"),
}
TOPICS = ["memory", "loss", "friendship", "ambition", "family", "the sea", "a long winter", "a stolen letter",
          "first love", "a rival", "old maps", "change", "courage", "the night sky", "a journey home", "trust"]
FIRST = ["Ada", "Ben", "Clara", "Dev", "Elena", "Femi", "Greta", "Hiro", "Ines", "Jon", "Kira", "Luca", "Maya",
         "Nils", "Omar", "Pia", "Quinn", "Rosa", "Sam", "Tova", "Umar", "Vera", "Wen", "Yara", "Zane"]
LAST = ["Hart", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Novak", "Reyes", "Byrne", "Costa",
        "Fischer", "Nakamura", "Osei", "Petrov", "Quist", "Rahman", "Sato", "Varga", "Wolfe", "Young"]
N_TONES = 6  # hidden: never written in the text
APPEAL = 0.6  # weight of a book's hidden appeal (popularity) in every reader's odds
SAME_AUTHOR, SAME_CATEGORY = 1.5, 0.8  # pull of the last book's author and category on the next pick


def title_pools(rng: np.random.Generator) -> dict[str, tuple[list, list]]:
    """Every title each category can have, in a seeded random order, as (title, topic or None): short ones
    ("The Adj Noun") and long ones ("Adj Noun: Topic"). Books take titles from these without replacement."""
    pools = {}
    for cat, (adjs, nouns, _) in CATEGORIES.items():
        pairs = [(a, n) for a in adjs for n in nouns]
        short = [(f"The {a} {n}", None) for a, n in pairs]
        long = [(f"{a} {n}: {t.capitalize()}", t) for a, n in pairs for t in TOPICS]
        pools[cat] = [short[i] for i in rng.permutation(len(short))], [long[i] for i in rng.permutation(len(long))]
    return pools


def draw_title(pools: dict[str, tuple[list, list]], cat: str, rng: np.random.Generator) -> tuple[str, str]:
    """An unused title of the category (short or long, even odds; the other kind once one runs out) and the topic
    its description tells of: the title's own for a long one, a random one for a short one."""
    short, long = pools[cat]
    pool = short if (rng.random() < 0.5 and short) or not long else long
    if not pool:
        raise ValueError(f"no {cat} title left: the catalog is larger than the titles the word lists can make")
    title, topic = pool.pop()
    return title, topic if topic is not None else TOPICS[int(rng.integers(len(TOPICS)))]


def make_catalog(n_items: int, rng: np.random.Generator) -> pd.DataFrame:
    cats = list(CATEGORIES)
    authors = [f"{a} {b}" for a in FIRST for b in LAST]
    rng.shuffle(authors)
    author_pool = {c: authors[i * 40:(i + 1) * 40] for i, c in enumerate(cats)}
    pools = title_pools(rng)
    rows = []
    for i in range(n_items):
        cat = cats[int(rng.integers(len(cats)))]
        title, topic = draw_title(pools, cat, rng)
        author = author_pool[cat][int(rng.integers(40))]
        tone = int(rng.integers(N_TONES))
        rows.append((f"B{i + 1:05d}", title, author, cat, CATEGORIES[cat][2].format(x=topic).capitalize() + ".", tone))
    df = pd.DataFrame(rows, columns=["item_id", "title", "author", "category", "description", "tone"])
    df["appeal"] = rng.normal(0, 1, len(df))  # hidden popularity
    return df


@dataclass(frozen=True)
class Tastes:
    """Each reader's hidden tastes as the generator drew them (rows: readers U0001, U0002, ...): the odds it
    picks books by, which `GeneratorOdds` ranks with."""

    category: np.ndarray  # (n_users, n_categories): added to the log-odds of each category's books
    tone: np.ndarray  # (n_users, N_TONES): the same for each hidden tone


def simulate(catalog: pd.DataFrame, n_users: int, rng: np.random.Generator) -> tuple[pd.DataFrame, Tastes]:
    """The readers' events (each next book drawn by its odds, Gumbel-max, never the same book twice) and the
    hidden tastes behind them. catalog: with its hidden `tone` and `appeal` columns."""
    books = Books.of(catalog)
    cats = books.category
    start = pd.Timestamp("2024-01-01").timestamp()
    rows, cat_prefs, tone_prefs = [], [], []
    for u in range(n_users):
        cat_pref = rng.dirichlet(np.full(cats.max() + 1, 0.3)) * 6
        tone_pref = rng.dirichlet(np.full(N_TONES, 0.4)) * 5
        cat_prefs.append(cat_pref)
        tone_prefs.append(tone_pref)
        n = int(np.clip(rng.lognormal(3.7, 0.5), 12, 250))
        t = start + rng.uniform(0, 300) * 86400
        chosen = np.zeros(len(catalog), dtype=bool)
        prev = None
        for _ in range(n):
            score = next_pick_odds(books, cat_pref, tone_pref, prev)
            score = np.where(chosen, -np.inf, score + rng.gumbel(size=len(score)))
            prev = int(np.argmax(score))
            chosen[prev] = True
            t += rng.exponential(2.5) * 86400
            event = rng.choice(["view", "cart", "purchase"], p=[0.6, 0.15, 0.25])
            rating = int(np.clip(round(3 + tone_pref[books.tone[prev]] - 0.8 + rng.normal(0, 1)), 1, 5)) \
                if event == "purchase" else None
            rows.append((f"U{u + 1:04d}", catalog["item_id"].iat[prev], int(t), event, rating))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event", "rating"])
    return events, Tastes(np.array(cat_prefs), np.array(tone_prefs))


@dataclass(frozen=True)
class Books:
    """What the odds read of each book (catalog rows): category and author codes, hidden tone and appeal."""

    category: np.ndarray
    author: np.ndarray
    tone: np.ndarray
    appeal: np.ndarray

    @classmethod
    def of(cls, catalog: pd.DataFrame) -> Books:
        return cls(pd.Categorical(catalog["category"]).codes, pd.Categorical(catalog["author"]).codes,
                   catalog["tone"].to_numpy(), catalog["appeal"].to_numpy())


def next_pick_odds(books: Books, cat_pref: np.ndarray, tone_pref: np.ndarray, prev: int | None) -> np.ndarray:
    """(n_items,) a reader's log-odds of picking each book next, after book row `prev` (None: the first pick)."""
    odds = cat_pref[books.category] + tone_pref[books.tone] + APPEAL * books.appeal
    if prev is None:
        return odds
    same_author, same_category = books.author == books.author[prev], books.category == books.category[prev]
    return odds + SAME_AUTHOR * same_author + SAME_CATEGORY * same_category


class GeneratorOdds:
    """Each reader's books ordered by the generator's own odds for their next pick (their hidden tastes, the books'
    hidden tone and appeal, and the pull of their last book), as a protocols.Scorer: about the best ranking of the
    demo data there can be, in expectation (not exactly: a held-out item must also be a positive, and whether a
    purchase is rated low depends on its tone, which the odds leave out). No model learns the hidden tastes exactly
    from a few dozen events, so it is what tuning is read against (`python -m recsys bench`)."""

    name = "generator-odds"

    def __init__(self, catalog: pd.DataFrame, tastes: Tastes) -> None:
        self.catalog, self.books, self.tastes = catalog, Books.of(catalog), tastes  # catalog: with its hidden columns
        self.readers = {f"U{u + 1:04d}": u for u in range(len(tastes.category))}  # as simulate names them

    def fit(self, train: pd.DataFrame, item_ids: np.ndarray) -> None:
        rows = pd.Index(self.catalog["item_id"]).get_indexer(item_ids)
        if (rows < 0).any():
            raise ValueError("GeneratorOdds scores the demo catalog it was made with")
        self.rows = rows  # catalog row of each item id, in item_ids order
        last = train.sort_values(["user_id", "timestamp", "row"], kind="mergesort").groupby("user_id")["item_id"].last()
        self.last = dict(zip(last.index, pd.Index(self.catalog["item_id"]).get_indexer(last.to_numpy())))

    def score(self, user_ids: list[str]) -> np.ndarray:
        out = np.empty((len(user_ids), len(self.rows)))
        for r, user in enumerate(user_ids):
            u = self.readers[str(user)]
            odds = next_pick_odds(self.books, self.tastes.category[u], self.tastes.tone[u], self.last.get(user))
            out[r] = odds[self.rows]
        return out


def make_demo(n_items: int = 1600, n_users: int = 700, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    events, catalog, _ = make_demo_hidden(n_items, n_users, seed)
    return events, catalog.drop(columns=["tone", "appeal"])


def make_demo_hidden(n_items: int = 1600, n_users: int = 700, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                                          Tastes]:
    """make_demo's events, its catalog with the hidden `tone` and `appeal` columns, and the readers' tastes."""
    rng = np.random.default_rng(seed)
    catalog = make_catalog(n_items, rng)
    events, tastes = simulate(catalog, n_users, rng)
    return events, catalog, tastes


def write_demo(folder: Path, n_items: int = 1600, n_users: int = 700, seed: int = SEED) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    events, catalog = make_demo(n_items, n_users, seed)
    paths = [folder / "interactions.csv", folder / "items.csv"]
    events.to_csv(paths[0], index=False)
    catalog.to_csv(paths[1], index=False)
    return paths


def demo_paths(root: Path) -> tuple[Path, Path]:
    """The bundled files (assets/demo); generated on the spot if someone deleted them."""
    folder = root / "assets" / "demo"
    paths = folder / "interactions.csv", folder / "items.csv"
    if not all(p.exists() for p in paths):
        write_demo(folder)
    return paths
