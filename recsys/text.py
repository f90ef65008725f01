"""Item text: which catalog columns describe an item and how a template composes them."""
from __future__ import annotations

import re

import pandas as pd

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_ ]*)\}")
# A "Label: " left with no value once a column is empty, e.g. "Genres: ." -> removed.
_EMPTY_FIELD = re.compile(r"(?:^|(?<=\. ))[A-Z][\w ]{0,30}: (?=\.|$)\.? ?")
TITLE_NAMES = ("title", "name", "product_name", "item_name")
CATEGORY_NAMES = ("category", "categories", "genre", "genres", "type", "department", "section")


def text_like_columns(df: pd.DataFrame, exclude: tuple[str, ...] = ()) -> list[str]:
    """Columns that hold words rather than numbers or ids (judged on up to 200 non-empty values)."""
    out = []
    for col in df.columns:
        if col in exclude:
            continue
        values = df[col].astype(str).str.strip()
        values = values[values != ""].head(200)
        if values.empty:
            continue
        numeric = pd.to_numeric(values, errors="coerce").notna().mean()
        has_letters = values.str.contains(r"[^\W\d_]", regex=True).mean()
        if numeric < 0.5 and has_letters > 0.5:
            out.append(col)
    return sorted(out, key=lambda c: (c.lower() not in TITLE_NAMES, list(df.columns).index(c)))


def default_template(columns: list[str]) -> str:
    """`{title}. Genres: {genres}`: the first column bare, the others labelled."""
    if not columns:
        return ""
    rest = [f"{_label(c)}: {{{c}}}" for c in columns[1:]]
    return ". ".join([f"{{{columns[0]}}}", *rest])


def template_columns(template: str) -> list[str]:
    return _PLACEHOLDER.findall(template)


def render_texts(items: pd.DataFrame, template: str, max_chars: int) -> pd.Series:
    """Fill the template for every row; list values `a|b` read `a, b`; empty fields drop out."""
    out = pd.Series(template, index=items.index, dtype=object)
    for col in dict.fromkeys(template_columns(template)):
        values = items[col].astype(str).str.strip().str.replace("|", ", ", regex=False)
        values = values.where(~values.str.lower().isin(("nan", "none", "(no genres listed)")), "")
        out = pd.Series([t.replace("{" + col + "}", v) for t, v in zip(out, values)], index=items.index)
    out = out.str.replace(_EMPTY_FIELD, "", regex=True).str.strip().str.rstrip(".:").str.strip()
    return out.str.slice(0, max_chars)


def tag_suffixes(tags: pd.DataFrame, max_tags: int = 8) -> pd.Series:
    """Per item, its most frequent distinct tags as ' Tags: a, b' (tags: item_id, tag)."""
    tags = tags.assign(tag=tags["tag"].astype(str).str.strip().str.lower())
    tags = tags[tags["tag"] != ""]
    counts = tags.groupby(["item_id", "tag"]).size().rename("n").reset_index()
    counts = counts.sort_values(["item_id", "n", "tag"], ascending=[True, False, True])
    top = counts.groupby("item_id").head(max_tags).groupby("item_id")["tag"].agg(", ".join)
    return ". Tags: " + top


def _label(column: str) -> str:
    return column.replace("_", " ").strip().capitalize()
