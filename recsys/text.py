"""Item text: which catalog columns describe an item and how a template composes them.

A template is free text with `{column}` placeholders; any column name works (`{Book-Title}`, `{a.b}`) as long
as it has no braces. Fields are separated by ". "; a field whose placeholders are all empty drops out."""
from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

from recsys.errors import DataError

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_FIELD_BREAK = re.compile(r"\.\s+(?![^{}]*\})")  # ". " between fields, never inside a {placeholder}
_MISSING = ("nan", "none", "null", "<na>", "(no genres listed)")
_MARKUP = re.compile(r"<!--.*?-->|<(script|style)\b.*?</\1\s*>|</?[A-Za-z][^<>]*>", re.DOTALL | re.IGNORECASE)
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[A-Za-z]+\d*);")
_URL = re.compile(r"^(?:https?://|ftp://|www\.)|\.(?:jpe?g|png|gif|webp|svg)(?:\?.*)?$", re.IGNORECASE)
# One token with a digit and no word of 4+ letters (B00031, 034545104X, tt0114709, 2024-05-01), or a hex
# hash/uuid; '101-Bois-de-Liesse' is a name.
_CODE = re.compile(r"^(?=\S*\d)(?!\S*[^\W\d_]{4})\S+$|^[0-9a-fA-F\-]{16,}$")
TITLE_NAMES = ("title", "name", "product_name", "item_name")
CATEGORY_NAMES = ("category", "categories", "genre", "genres", "type", "department", "section")
_CATEGORY_WORDS = {"category", "categories", "genre", "genres", "department", "section", "type", "class"}
_HEADLINE_WORDS = {"headline", "heading", "caption"}
_ID_WORDS = {"id", "ids", "isbn", "asin", "sku", "uuid", "guid", "ean", "upc", "gtin", "hash", "md5", "sha1"}
_LINK_WORDS = {"url", "uri", "link", "links", "href", "image", "images", "img", "thumbnail", "thumb", "photo",
               "picture", "icon", "avatar"}
SHORT_CHARS = 100  # a column whose median value is longer is a body of text: it goes last in the template


def name_words(column: str) -> list[str]:
    """'Book-Title' -> ['book', 'title'], 'movieId' -> ['movie', 'id'], 'Image-URL-S' -> ['image', 'url', 's']."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(column))
    return [w for w in re.split(r"[\W_]+", spaced.lower()) if w]


def is_id_like_name(column: str) -> bool:
    """Names of ids, codes and links, which say nothing a reader could use: *_id, isbn, url, image..."""
    words = name_words(column)
    return bool(words) and (words[-1] in _ID_WORDS or bool(set(words) & (_LINK_WORDS | {"isbn", "asin", "uuid"})))


def title_rank(column: str) -> int | None:
    """How surely a column names the item: 0 'title', 1 'name', 2 '*title*', 3 '*_name', 4 headline; else None."""
    words, flat = name_words(column), "".join(name_words(column))
    ranks = (flat == "title", flat == "name", "title" in flat, bool(words) and flat.endswith("name"),
             bool(set(words) & _HEADLINE_WORDS))
    return next((rank for rank, hit in enumerate(ranks) if hit), None)


def text_like_columns(df: pd.DataFrame, exclude: tuple[str, ...] = ()) -> list[str]:
    """Columns that hold words rather than numbers, ids or links (judged on up to 200 non-empty values),
    ordered for a template: name-like columns first, then short ones in file order, then long bodies."""
    lengths = {}
    for col in df.columns:
        if col in exclude or _unusable_name(col) or is_id_like_name(col):
            continue
        values = _sample(df[col])
        if not values.empty and _is_prose(values):
            lengths[col] = float(values.str.len().median())
    names = sorted((c for c in lengths if title_rank(c) is not None and lengths[c] <= SHORT_CHARS),
                   key=lambda c: title_rank(c))
    short = [c for c in lengths if c not in names and lengths[c] <= SHORT_CHARS]
    long = sorted((c for c in lengths if lengths[c] > SHORT_CHARS), key=lambda c: lengths[c])
    return names + short + long


def _unusable_name(column: str) -> bool:
    name = str(column)
    return name.strip() == "" or name.startswith("Unnamed: ") or "{" in name or "}" in name


def _sample(values: pd.Series) -> pd.Series:
    values = values.astype(str).str.strip()
    return values[(values != "") & ~values.str.lower().isin(_MISSING)].head(200)


def _is_prose(values: pd.Series) -> bool:
    numeric = pd.to_numeric(values, errors="coerce").notna().mean()
    has_letters = values.str.contains(r"[^\W\d_]", regex=True).mean()
    links = values.str.contains(_URL).mean()
    codes = values.str.fullmatch(_CODE).mean()
    return numeric < 0.5 and has_letters > 0.5 and links < 0.5 and codes < 0.8


def title_column(df: pd.DataFrame, exclude: tuple[str, ...] = (), fallback: tuple[str, ...] = ()) -> str | None:
    """The column to show as an item's title: the surest name-like column that has short words in it, else
    the first fallback column (the template's first) that has."""
    found = [c for c in df.columns if c not in exclude and not _unusable_name(c) and title_rank(c) is not None
             and not is_id_like_name(c) and _short_words(df[c])]
    found = found or [c for c in fallback[:1] if c in df.columns and c not in exclude and _short_words(df[c])]
    return min(found, key=lambda c: title_rank(c) or 0, default=None)


def category_column(df: pd.DataFrame, exclude: tuple[str, ...] = ()) -> str | None:
    """A column of categories: 'genres', 'category_name', 'Book-Category', 'Major Genre'..."""
    usable = [c for c in df.columns if c not in exclude and not _unusable_name(c) and not is_id_like_name(c)]
    exact = [c for name in CATEGORY_NAMES for c in usable if str(c).lower() == name]
    worded = [c for c in usable if set(name_words(c)) & _CATEGORY_WORDS]
    return next((c for c in exact + worded if _short_words(df[c])), None)


def _short_words(values: pd.Series) -> bool:
    values = _sample(values)
    return not values.empty and _is_prose(values) and values.str.len().median() <= SHORT_CHARS


def default_template(columns: list[str]) -> str:
    """`{title}. Genres: {genres}`: the first column bare, the others labelled."""
    columns = [c for c in columns if not _unusable_name(c)]
    if not columns:
        return ""
    rest = [f"{_label(c)}: {{{c}}}" for c in columns[1:]]
    return ". ".join([f"{{{columns[0]}}}", *rest])


def template_columns(template: str) -> list[str]:
    return _PLACEHOLDER.findall(template)


def resolve_template(template: str, columns: list[str], source: str = "the catalog") -> str:
    """The template with each placeholder spelled as its column is ({book-title} -> {Book-Title} when only one
    column matches); DataError naming the placeholder when none does, or when there is no placeholder."""
    names = [str(c) for c in columns]
    if not template_columns(template):
        raise DataError(f"{source}: the item-text template '{template[:80]}' has no {{column}} placeholder; "
                        f"name at least one of: {', '.join(names)}.")

    def exact(match: re.Match) -> str:
        wanted = match.group(1)
        for key in (lambda s: s, lambda s: s.strip().casefold(), lambda s: "".join(name_words(s))):
            hits = [n for n in names if key(n) == key(wanted)]
            if len(hits) == 1:
                return "{" + hits[0] + "}"
        raise DataError(f"{source}: the item-text template names {{{wanted}}}, which is not a column; "
                        f"available columns: {', '.join(names)}.")
    return _PLACEHOLDER.sub(exact, template)


def clean_values(values: pd.Series, rows: int | None = None) -> pd.Series:
    """Cell values as display text: entities unescaped (&amp; -> &), HTML tags dropped from long bodies (a short
    name with '<' in it is kept literally), list values `a|b` read `a, b`, runs of whitespace made one space,
    missing markers ('nan', 'None') made empty. rows: only the first rows, judged as the whole column is."""
    bodies = bool(_sample(values).str.len().median() > SHORT_CHARS)
    text = (values if rows is None else values.head(rows)).astype(str)
    marked = text.str.contains("[&<]" if bodies else "&", regex=True)
    if marked.any():
        text = text.where(~marked, text[marked].map(_unmark_body if bodies else _unescape))
    text = text.str.replace(r"\s*\|\s*", ", ", regex=True).str.replace(r"\s+", " ", regex=True).str.strip()
    return text.where(~text.str.lower().isin(_MISSING), "")


def _unmark_body(value: str) -> str:
    return _unescape(_MARKUP.sub(" ", value) if "<" in value else value)


def _unescape(value: str) -> str:
    if "&" in value:
        value = html.unescape(value)
        value = html.unescape(value) if "&" in value and _ENTITY.search(value) else value  # escaped twice: &amp;amp;
    return value


def render_texts(items: pd.DataFrame, template: str, max_chars: int, rows: int | None = None) -> pd.Series:
    """Fill the template for every row (or the first rows, for a preview that renders as import will);
    fields whose placeholders are all empty drop out."""
    template = resolve_template(template, list(items.columns))
    values = {c: clean_values(items[c], rows) for c in dict.fromkeys(template_columns(template))}
    index = items.index if rows is None else items.index[:rows]
    out = pd.Series("", index=index, dtype=object)
    for field in _FIELD_BREAK.split(template):
        out = _join(out, _render_field(field, values, index))
    # A trailing "." or ":" is dropped, as item texts always were: the encoder saw them that way.
    return out.str.strip().str.rstrip(".:").str.strip().str.slice(0, max_chars)


def _render_field(field: str, values: dict[str, pd.Series], index: pd.Index) -> pd.Series:
    pieces = _PLACEHOLDER.split(field)  # literal, column, literal, column, ..., literal
    out = pd.Series(pieces[0], index=index, dtype=object)
    empty = pd.Series(len(pieces) > 1, index=index)
    for column, literal in zip(pieces[1::2], pieces[2::2]):
        out = out + values[column] + literal
        empty &= values[column] == ""
    return out.where(~empty, "")


def _join(left: pd.Series, right: pd.Series) -> pd.Series:
    # "Really?" + "Genre: x" reads "Really? Genre: x", not "Really?. Genre: x"
    sep = np.where(left.str.contains(r"[.!?]$", regex=True), " ", ". ")
    return (left + sep + right).where((left != "") & (right != ""), left + right)


def tag_suffixes(tags: pd.DataFrame, max_tags: int = 8) -> pd.Series:
    """Per item, its most frequent distinct tags as ' Tags: a, b' (tags: item_id, tag)."""
    tags = tags.assign(tag=tags["tag"].astype(str).str.strip().str.lower())
    tags = tags[tags["tag"] != ""]
    counts = tags.groupby(["item_id", "tag"]).size().rename("n").reset_index()
    counts = counts.sort_values(["item_id", "n", "tag"], ascending=[True, False, True])
    top = counts.groupby("item_id").head(max_tags).groupby("item_id")["tag"].agg(", ".join)
    return ". Tags: " + top


def _label(column: str) -> str:
    """'Year-Of-Publication' -> 'Year of publication', 'US Gross' -> 'US gross', 'lifeExp' -> 'Life exp'."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(column))
    words = [w for w in re.split(r"[\W_]+", spaced) if w]
    words = [w if w.isupper() and len(w) > 1 else w.lower() for w in words] or [str(column)]
    return words[0][:1].upper() + words[0][1:] + "".join(" " + w for w in words[1:])
