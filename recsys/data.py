"""Behaviour logs and item catalogs in, one validated `Dataset` out, with a report of what was dropped."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.errors import DataError
from recsys.tables import read_table
from recsys.text import (
    CATEGORY_NAMES,
    TITLE_NAMES,
    default_template,
    render_texts,
    tag_suffixes,
    template_columns,
    text_like_columns,
)

USER_ALIASES = ("user_id", "userId", "user", "uid", "customer_id", "visitor_id")
ITEM_ALIASES = ("item_id", "itemId", "movieId", "product_id", "productId", "item", "iid", "sku", "id")
TIME_ALIASES = ("timestamp", "time", "ts", "datetime", "date", "event_time")
RATING_ALIASES = ("rating", "score", "weight")
EVENT_ALIASES = ("event", "event_type", "action")
TAG_ALIASES = ("tag", "tags", "label")


@dataclass(frozen=True)
class ImportConfig:
    """How to read the files; None means "detect from common column names"."""

    user_col: str | None = None
    item_col: str | None = None
    time_col: str | None = None
    rating_col: str | None = None
    event_col: str | None = None
    catalog_item_col: str | None = None
    text_columns: tuple[str, ...] | None = None
    template: str | None = None  # e.g. "{title}. Genres: {genres}"; None = every text-like column
    max_text_chars: int = 2000  # longer item texts are cut: the encoder reads ~256 tokens anyway
    max_rows: int = int(os.environ.get("RECTUNE_MAX_ROWS", 5_000_000))
    max_bytes: int = int(float(os.environ.get("RECTUNE_MAX_UPLOAD_MB", 500)) * 1e6)

    def __post_init__(self) -> None:
        if self.max_text_chars < 16:
            raise ValueError("max_text_chars must be at least 16")
        if self.max_rows < 1 or self.max_bytes < 1:
            raise ValueError("max_rows and max_bytes must be positive")


@dataclass(frozen=True)
class ImportReport:
    """What an import found: sizes, time span, and every row it dropped, by reason."""

    users: int
    items: int
    items_with_interactions: int
    interactions: int
    density: float
    time_start: str
    time_end: str
    items_without_text: int
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    template: str = ""

    def lines(self) -> list[str]:
        out = [f"users: {self.users:,}", f"items: {self.items:,} ({self.items_with_interactions:,} with interactions)",
               f"interactions: {self.interactions:,}", f"density: {self.density:.4%}",
               f"time span: {self.time_start} .. {self.time_end}", f"items without text: {self.items_without_text:,}",
               f"item text template: {self.template}"]
        out += [f"dropped {n:,} rows: {why}" for why, n in self.dropped.items() if n]
        return out + [f"warning: {w}" for w in self.warnings]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Dataset:
    """interactions: user_id, item_id (str), timestamp (int64 s), rating (float), event (str), row (file order),
    sorted by (user_id, timestamp, row). items: item_id, title, category, text (one row per item)."""

    interactions: pd.DataFrame
    items: pd.DataFrame
    report: ImportReport


def import_dataset(interactions: str | Path, items: str | Path, tags: str | Path | None = None,
                   config: ImportConfig = ImportConfig()) -> Dataset:
    """Read, validate and join the files. Raises DataError for a file that cannot be used."""
    catalog, cat_dropped, warnings = load_catalog(items, config)
    if tags is not None:
        catalog = _add_tags(catalog, tags, config)
    log, dropped = load_interactions(interactions, config)
    known = log["item_id"].isin(set(catalog["item_id"]))
    dropped["unknown item id (not in the catalog)"] = int((~known).sum())
    log = log[known].reset_index(drop=True)
    if log.empty:
        raise DataError(f"{Path(interactions).name}: none of its item ids appear in {Path(items).name}; "
                        "check that both files use the same item ids and that the right id columns are chosen.")
    report = _report(log, catalog, {**cat_dropped, **dropped}, warnings, config)
    return Dataset(log, catalog.drop(columns=["_template"]), report)


def load_interactions(path: str | Path, config: ImportConfig) -> tuple[pd.DataFrame, dict[str, int]]:
    name = Path(path).name
    raw = read_table(path, config.max_bytes, config.max_rows)
    user = _column(raw, USER_ALIASES, config.user_col, name, "user id", "--user-col")
    item = _column(raw, ITEM_ALIASES, config.item_col, name, "item id", "--item-col")
    time = _column(raw, TIME_ALIASES, config.time_col, name, "timestamp", "--time-col", required=False)
    rating = _column(raw, RATING_ALIASES, config.rating_col, name, "rating", "--rating-col", required=False)
    event = _column(raw, EVENT_ALIASES, config.event_col, name, "event", "--event-col", required=False)
    df = pd.DataFrame({"user_id": raw[user].astype(str).str.strip(), "item_id": raw[item].astype(str).str.strip()})
    df["row"] = np.arange(len(df), dtype=np.int64)
    df["timestamp"] = parse_timestamps(raw[time], name, time) if time else df["row"]
    df["rating"] = pd.to_numeric(raw[rating], errors="coerce").astype(float) if rating else np.nan
    df["event"] = raw[event].astype(str).str.strip() if event else ""
    dropped = {"blank user or item id": int(((df["user_id"] == "") | (df["item_id"] == "")).sum()),
               "unparseable timestamp": int(df["timestamp"].isna().sum())}
    df = df[(df["user_id"] != "") & (df["item_id"] != "") & df["timestamp"].notna()]
    if df.empty:
        raise DataError(f"{name}: no usable rows (every row lacks a user id, an item id or a readable timestamp).")
    before = len(df)
    df = df.drop_duplicates(["user_id", "item_id", "timestamp", "event"])
    dropped["duplicate row (same user, item, time, event)"] = before - len(df)
    df["timestamp"] = df["timestamp"].astype(np.int64)
    df = df.sort_values(["user_id", "timestamp", "row"], kind="mergesort").reset_index(drop=True)
    return df[["user_id", "item_id", "timestamp", "rating", "event", "row"]], dropped


def parse_timestamps(values: pd.Series, file: str, column: str) -> pd.Series:
    """Epoch seconds (milliseconds are detected) or ISO dates -> int seconds; NaN where unreadable."""
    values = values.astype(str).str.strip()
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().mean() >= 0.5:
        scale = 1000.0 if numeric.abs().median() > 1e11 else 1.0
        return np.floor(numeric / scale)
    dates = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    if dates.notna().sum() == 0:
        raise DataError(f"{file}: column '{column}' has no readable times (first value '{values.iloc[0][:40]}'); "
                        "use epoch seconds or ISO dates like 2024-05-01 12:00, or pick another time column.")
    seconds = (dates - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1)
    return seconds.astype("Float64").astype(float)


def load_catalog(path: str | Path, config: ImportConfig) -> tuple[pd.DataFrame, dict[str, int], list[str]]:
    name = Path(path).name
    raw = read_table(path, config.max_bytes, config.max_rows)
    item = _column(raw, ITEM_ALIASES, config.catalog_item_col, name, "item id", "--catalog-item-col")
    raw = raw.assign(**{item: raw[item].astype(str).str.strip()})
    template = config.template or default_template(list(config.text_columns or text_like_columns(raw, (item,))))
    if not template:
        raise DataError(f"{name}: no text column found (columns: {', '.join(map(str, raw.columns))}); "
                        "add a title or description column, or choose text columns explicitly.")
    missing = [c for c in template_columns(template) if c not in raw.columns]
    if missing:
        raise DataError(f"{name}: the item-text template names column(s) {missing} that the file lacks; "
                        f"available: {', '.join(map(str, raw.columns))}.")
    dropped = {"catalog row with blank item id": int((raw[item] == "").sum())}
    raw = raw[raw[item] != ""]
    dupes = raw.duplicated(item)
    dropped["catalog row repeating an item id (first kept)"] = int(dupes.sum())
    raw = raw[~dupes].reset_index(drop=True)
    full = render_texts(raw, template, 10**9)
    warnings = []
    if (long := int((full.str.len() > config.max_text_chars).sum())):
        warnings.append(f"{long} item texts longer than {config.max_text_chars} characters were cut")
    return _catalog_frame(raw, item, full.str.slice(0, config.max_text_chars), template), dropped, warnings


def _catalog_frame(raw: pd.DataFrame, item: str, text: pd.Series, template: str) -> pd.DataFrame:
    title = next((c for c in raw.columns if c.lower() in TITLE_NAMES), None)
    category = next((c for c in raw.columns if c.lower() in CATEGORY_NAMES), None)
    titles = raw[title].astype(str).str.slice(0, 300) if title else text.str.slice(0, 80)
    cats = raw[category].astype(str).str.split("|").str[0].str.strip() if category else pd.Series("", index=raw.index)
    return pd.DataFrame({"item_id": raw[item], "title": titles.where(titles != "", raw[item]),
                         "category": cats.replace("", "(none)"), "text": text, "_template": template})


def _add_tags(catalog: pd.DataFrame, path: str | Path, config: ImportConfig) -> pd.DataFrame:
    name = Path(path).name
    raw = read_table(path, config.max_bytes, config.max_rows)
    item = _column(raw, ITEM_ALIASES, None, name, "item id", "--item-col")
    tag = _column(raw, TAG_ALIASES, None, name, "tag", "a 'tag' column")
    suffix = tag_suffixes(pd.DataFrame({"item_id": raw[item].astype(str).str.strip(), "tag": raw[tag]}))
    extra = catalog["item_id"].map(suffix).fillna("")
    text = (catalog["text"] + extra).str.slice(0, config.max_text_chars)
    return catalog.assign(text=text)


def _column(df: pd.DataFrame, aliases: tuple[str, ...], explicit: str | None, file: str, what: str, flag: str,
            required: bool = True) -> str | None:
    if explicit:
        if explicit not in df.columns:
            raise DataError(f"{file}: no column '{explicit}' for the {what}; columns are: {', '.join(df.columns)}.")
        return explicit
    lower = {str(c).lower(): c for c in df.columns}
    found = next((lower[a.lower()] for a in aliases if a.lower() in lower), None)
    if found is None and required:
        raise DataError(f"{file}: no {what} column (looked for {', '.join(aliases)}; found {', '.join(df.columns)}); "
                        f"rename the column or choose it with {flag}.")
    return found


def _report(log: pd.DataFrame, catalog: pd.DataFrame, dropped: dict[str, int], warnings: list[str],
            config: ImportConfig) -> ImportReport:
    users, items = log["user_id"].nunique(), len(catalog)
    start, end = (pd.to_datetime(log["timestamp"].agg(f), unit="s").strftime("%Y-%m-%d") for f in ("min", "max"))
    return ImportReport(users=users, items=items, items_with_interactions=log["item_id"].nunique(),
                        interactions=len(log), density=len(log) / max(users * items, 1), time_start=start,
                        time_end=end, items_without_text=int((catalog["text"].str.strip() == "").sum()),
                        dropped={k: v for k, v in dropped.items() if v}, warnings=tuple(warnings),
                        template=str(catalog["_template"].iloc[0]))


def detect_log_columns(df: pd.DataFrame) -> dict[str, str | None]:
    """The columns import would pick for each role (None where nothing matches)."""
    roles = {"user_col": USER_ALIASES, "item_col": ITEM_ALIASES, "time_col": TIME_ALIASES,
             "rating_col": RATING_ALIASES, "event_col": EVENT_ALIASES}
    lower = {str(c).lower(): c for c in df.columns}
    return {role: next((lower[a.lower()] for a in aliases if a.lower() in lower), None) for role, aliases in roles.items()}


def detect_catalog_template(df: pd.DataFrame) -> tuple[str | None, str]:
    """(item id column, default item-text template) for a catalog."""
    lower = {str(c).lower(): c for c in df.columns}
    item = next((lower[a.lower()] for a in ITEM_ALIASES if a.lower() in lower), None)
    return item, default_template(text_like_columns(df, (item,) if item else ()))


def preview_texts(df: pd.DataFrame, template: str, n: int = 5, max_chars: int = 2000) -> list[str]:
    """The item texts the template makes for the first n rows; DataError if it names missing columns."""
    missing = [c for c in template_columns(template) if c not in df.columns]
    if missing:
        raise DataError(f"the template names column(s) {missing} that the catalog lacks.")
    return render_texts(df.head(n), template, max_chars).tolist()


def dataset_fingerprint(dataset: Dataset) -> str:
    """A content hash of the log (user, item, time) and the item texts: what results are cached under."""
    h = pd.util.hash_pandas_object(dataset.interactions[["user_id", "item_id", "timestamp"]], index=False)
    t = pd.util.hash_pandas_object(dataset.items[["item_id", "text"]], index=False)
    return f"{int(h.sum()) & 0xFFFFFFFFFFFF:012x}-{int(t.sum()) & 0xFFFFFFFF:08x}"
