"""The bundled demo data: a synthetic bookshop, generated from a seed by this code (no real data).

Tastes are only partly visible in the text: users favour categories and authors (named in the text),
but also a hidden "tone" of each book that no text mentions, and they follow series and authors in
sequence. So a model that reads the text alone is good, and one tuned on behaviour is better."""
from __future__ import annotations

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


def make_events(catalog: pd.DataFrame, n_users: int, rng: np.random.Generator) -> pd.DataFrame:
    cats = pd.Categorical(catalog["category"]).codes
    authors = pd.Categorical(catalog["author"]).codes
    tones = catalog["tone"].to_numpy()
    base_pop = catalog["appeal"].to_numpy()
    start = pd.Timestamp("2024-01-01").timestamp()
    rows = []
    for u in range(n_users):
        cat_pref = rng.dirichlet(np.full(cats.max() + 1, 0.3)) * 6
        tone_pref = rng.dirichlet(np.full(N_TONES, 0.4)) * 5
        logits = cat_pref[cats] + tone_pref[tones] + 0.6 * base_pop
        n = int(np.clip(rng.lognormal(3.7, 0.5), 12, 250))
        t = start + rng.uniform(0, 300) * 86400
        chosen = np.zeros(len(catalog), dtype=bool)
        prev = None
        for _ in range(n):
            score = logits + (1.5 * (authors == authors[prev]) + 0.8 * (cats == cats[prev]) if prev is not None else 0)
            score = np.where(chosen, -np.inf, score + rng.gumbel(size=len(score)))
            prev = int(np.argmax(score))
            chosen[prev] = True
            t += rng.exponential(2.5) * 86400
            event = rng.choice(["view", "cart", "purchase"], p=[0.6, 0.15, 0.25])
            rating = int(np.clip(round(3 + tone_pref[tones[prev]] - 0.8 + rng.normal(0, 1)), 1, 5)) \
                if event == "purchase" else None
            rows.append((f"U{u + 1:04d}", catalog["item_id"].iat[prev], int(t), event, rating))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event", "rating"])


def make_demo(n_items: int = 1600, n_users: int = 700, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    catalog = make_catalog(n_items, rng)
    events = make_events(catalog, n_users, rng)
    return events, catalog.drop(columns=["tone", "appeal"])


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
