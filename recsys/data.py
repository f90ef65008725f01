"""Behaviour logs and item catalogs in, one validated `Dataset` out, with a report of what was dropped."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.columns import (
    ITEM_ALIASES,
    LOG_ROLES,
    TAG_ALIASES,
    catalog_coverage,
    catalog_item_column,
    detect_log_columns,
    member,
)
from recsys.errors import DataError
from recsys.tables import MB, alias_column, integer_ids, named_column, numbers, read_table
from recsys.text import (
    category_column,
    clean_values,
    default_template,
    render_texts,
    resolve_template,
    tag_suffixes,
    template_columns,
    text_like_columns,
    title_column,
    title_rank,
)

FILE_ORDER = "no time column (file order)"


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
    # MB as Streamlit counts them (2**20 bytes), so the app's upload box and this limit are the same number
    max_bytes: int = int(float(os.environ.get("RECTUNE_MAX_UPLOAD_MB", 500)) * MB)

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
    file_order: bool = False  # the log had no time column: its row order stands for time (time_start/end "")

    def lines(self) -> list[str]:
        span = FILE_ORDER if self.file_order else f"{self.time_start} .. {self.time_end}"
        out = [f"users: {self.users:,}", f"items: {self.items:,} ({self.items_with_interactions:,} with interactions)",
               f"interactions: {self.interactions:,}", f"density: {self.density:.4%}", f"time span: {span}",
               f"items without text: {self.items_without_text:,}", f"item text template: {self.template}"]
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
    catalog, cat_dropped, cat_warnings = load_catalog(items, config)
    if tags is not None:
        catalog = _add_tags(catalog, tags, config)
    log, dropped, warnings, file_order = _load_log(interactions, config)
    coverage = catalog_coverage(log["item_id"], catalog["item_id"], 3)
    known = member(log["item_id"], catalog["item_id"])
    dropped["unknown item id (not in the catalog)"] = int((~known).sum())
    log = log[known].reset_index(drop=True)
    if log.empty:
        raise DataError(f"{Path(interactions).name}: none of its item ids appear in {Path(items).name} "
                        f"(log ids like {', '.join(coverage.log_examples)}; catalog ids like "
                        f"{', '.join(coverage.catalog_examples)}); check that both files use the same item ids "
                        "and that the right id columns are chosen.")
    if coverage.share < 0.5:
        warnings.append(f"only {coverage.share:.0%} of the item ids in {Path(interactions).name} are in "
                        f"{Path(items).name} (missing, e.g.: {', '.join(coverage.log_examples)})")
    report = _report(log, catalog, {**cat_dropped, **dropped}, warnings + cat_warnings, file_order)
    return Dataset(log, catalog.drop(columns=["_template"]), report)


def load_interactions(path: str | Path, config: ImportConfig) -> tuple[pd.DataFrame, dict[str, int]]:
    log, dropped, _, _ = _load_log(path, config)
    return log, dropped


def _load_log(path: str | Path, config: ImportConfig) -> tuple[pd.DataFrame, dict[str, int], list[str], bool]:
    """(log frame, dropped rows by reason, warnings, whether file order stands in for time)."""
    name = Path(path).name
    raw = read_table(path, config.max_bytes, config.max_rows)
    cols = _log_columns(raw, config, name)
    user, user_note = integer_ids(raw[cols["user_col"]], "user", name)
    item, item_note = integer_ids(raw[cols["item_col"]], "item", name)
    warnings = [note for note in (user_note, item_note) if note]
    df = pd.DataFrame({"user_id": user, "item_id": item})
    df["row"] = np.arange(len(df), dtype=np.int64)
    time, rating, event = cols["time_col"], cols["rating_col"], cols["event_col"]
    df["timestamp"] = parse_timestamps(raw[time], name, time) if time else df["row"]
    if not time:
        warnings.append(f"{name} has no time column: the order of rows in the file is taken as time order")
    df["rating"] = numbers(raw[rating]) if rating else np.nan
    df["event"] = raw[event].astype(str).str.strip() if event else ""
    dropped = {**_skipped_lines(raw, name),
               "blank user or item id": int(((df["user_id"] == "") | (df["item_id"] == "")).sum()),
               "unparseable timestamp": int(df["timestamp"].isna().sum())}
    df = df[(df["user_id"] != "") & (df["item_id"] != "") & df["timestamp"].notna()]
    if df.empty:
        raise DataError(f"{name}: no usable rows (every row lacks a user id, an item id or a readable timestamp).")
    before = len(df)
    df = df.drop_duplicates(["user_id", "item_id", "timestamp", "event"])
    dropped["duplicate row (same user, item, time, event)"] = before - len(df)
    df["timestamp"] = df["timestamp"].astype(np.int64)
    df = df.sort_values(["user_id", "timestamp", "row"], kind="mergesort").reset_index(drop=True)
    return df[["user_id", "item_id", "timestamp", "rating", "event", "row"]], dropped, warnings, not time


def _log_columns(raw: pd.DataFrame, config: ImportConfig, file: str) -> dict[str, str | None]:
    detected = detect_log_columns(raw)
    out = {}
    for role, (aliases, what, flag) in LOG_ROLES.items():
        explicit = getattr(config, role)
        out[role] = named_column(raw, explicit, file, what) if explicit else detected[role]
        if out[role] is None and role in ("user_col", "item_col"):
            raise DataError(f"{file}: no {what} column (looked for {', '.join(aliases[:6])}; found "
                            f"{', '.join(map(str, raw.columns))}); rename the column or choose it with {flag}.")
    return out


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


def _skipped_lines(raw: pd.DataFrame, file: str) -> dict[str, int]:
    skipped = int(raw.attrs.get("skipped_lines") or 0)
    return {f"malformed line (wrong number of fields) in {file}": skipped} if skipped else {}


def load_catalog(path: str | Path, config: ImportConfig) -> tuple[pd.DataFrame, dict[str, int], list[str]]:
    name = Path(path).name
    raw = read_table(path, config.max_bytes, config.max_rows)
    explicit = config.catalog_item_col
    item = named_column(raw, explicit, name, "item id") if explicit else catalog_item_column(raw)
    if item is None:
        raise DataError(f"{name}: no item id column (looked for {', '.join(ITEM_ALIASES[:6])}, ISBN; found "
                        f"{', '.join(map(str, raw.columns))}); rename the column or choose it with --catalog-item-col.")
    ids, note = integer_ids(raw[item], "item", name)
    raw = raw.assign(**{item: ids})
    template = _catalog_template(raw, item, config, name)
    dropped = {**_skipped_lines(raw, name), "catalog row with blank item id": int((raw[item] == "").sum())}
    raw = raw[raw[item] != ""]
    dupes = raw.duplicated(item)
    dropped["catalog row repeating an item id (first kept)"] = int(dupes.sum())
    raw = raw[~dupes].reset_index(drop=True)
    full = render_texts(raw, template, 10**9)
    warnings = [note] if note else []
    if (long := int((full.str.len() > config.max_text_chars).sum())):
        warnings.append(f"{long} item texts longer than {config.max_text_chars} characters were cut")
    return _catalog_frame(raw, item, full.str.slice(0, config.max_text_chars), template), dropped, warnings


def _catalog_template(raw: pd.DataFrame, item: str, config: ImportConfig, file: str) -> str:
    columns = config.text_columns or text_like_columns(raw, _not_text(item))
    template = config.template or default_template(list(columns))
    if not template:
        raise DataError(f"{file}: no text column found (columns: {', '.join(map(str, raw.columns))}); item texts "
                        "are made of words (a title, name or description) and this file has only ids, numbers "
                        "or links. Add such a column, or name the columns to use (--text-columns or a template).")
    return resolve_template(template, list(raw.columns), file)


def _not_text(item: str | None) -> tuple[str, ...]:
    # An id column is no text, unless it is the item's name (a catalog keyed by 'Title').
    return (item,) if item and title_rank(item) is None else ()


def _catalog_frame(raw: pd.DataFrame, item: str, text: pd.Series, template: str) -> pd.DataFrame:
    title = title_column(raw, _not_text(item), tuple(template_columns(template)))
    category = category_column(raw, (item,))
    titles = clean_values(raw[title]).str.slice(0, 300) if title else text.str.slice(0, 80)
    cats = clean_values(raw[category].astype(str).str.split("|").str[0]) if category else ""
    cats = pd.Series(cats, index=raw.index, dtype=object)
    return pd.DataFrame({"item_id": raw[item], "title": titles.where(titles != "", raw[item]),
                         "category": cats.replace("", "(none)"), "text": text, "_template": template})


def _add_tags(catalog: pd.DataFrame, path: str | Path, config: ImportConfig) -> pd.DataFrame:
    name = Path(path).name
    raw = read_table(path, config.max_bytes, config.max_rows)
    item, tag = alias_column(raw, ITEM_ALIASES), alias_column(raw, TAG_ALIASES)
    if item is None or tag is None:
        raise DataError(f"{name}: a tags file needs an item id column and a 'tag' column; found "
                        f"{', '.join(map(str, raw.columns))}.")
    suffix = tag_suffixes(pd.DataFrame({"item_id": integer_ids(raw[item])[0], "tag": raw[tag]}))
    extra = catalog["item_id"].map(suffix).fillna("")
    text = (catalog["text"] + extra).str.slice(0, config.max_text_chars)
    return catalog.assign(text=text)


def _report(log: pd.DataFrame, catalog: pd.DataFrame, dropped: dict[str, int], warnings: list[str],
            file_order: bool) -> ImportReport:
    users, items = log["user_id"].nunique(), len(catalog)
    start, end = (pd.to_datetime(log["timestamp"].agg(f), unit="s").strftime("%Y-%m-%d") for f in ("min", "max"))
    return ImportReport(users=users, items=items, items_with_interactions=log["item_id"].nunique(),
                        interactions=len(log), density=len(log) / max(users * items, 1),
                        time_start="" if file_order else start, time_end="" if file_order else end,
                        items_without_text=int((catalog["text"].str.strip() == "").sum()),
                        dropped={k: v for k, v in dropped.items() if v}, warnings=tuple(warnings),
                        template=str(catalog["_template"].iloc[0]), file_order=file_order)


def detect_catalog_template(df: pd.DataFrame) -> tuple[str | None, str]:
    """(item id column, default item-text template) for a catalog, as import would pick them."""
    item = catalog_item_column(df)
    return item, default_template(text_like_columns(df, _not_text(item)))


def preview_texts(df: pd.DataFrame, template: str, n: int = 5, max_chars: int = 300) -> list[str]:
    """The item texts import would make for the first n rows, cut at max_chars; DataError if the template
    names a column the catalog lacks."""
    return render_texts(df, template, max_chars, rows=n).tolist()


def dataset_fingerprint(dataset: Dataset) -> str:
    """A content hash of the log (user, item, time) and the item texts: what results are cached under."""
    h = pd.util.hash_pandas_object(dataset.interactions[["user_id", "item_id", "timestamp"]], index=False)
    t = pd.util.hash_pandas_object(dataset.items[["item_id", "text"]], index=False)
    return f"{int(h.sum()) & 0xFFFFFFFFFFFF:012x}-{int(t.sum()) & 0xFFFFFFFF:08x}"
