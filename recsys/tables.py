"""Reading user files (CSV, TSV, Parquet, JSON Lines) into string DataFrames, refusing what is not a table;
finding a column by its usual names, and reading ids the way the file meant them.

A delimited file keeps two facts in `df.attrs`: "encoding" and "skipped_lines" (malformed lines left out,
with "first_bad_line" the number of the first one), so an import can report what it did not read."""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.errors import DataError

MB = 2**20  # bytes, as Streamlit counts the upload limit

SUPPORTED = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".jsonl", ".json", ".ndjson")
_SNIFF_BYTES = 64 * 1024
# Magic numbers of files people rename to .csv by mistake.
_MAGIC = {b"PK\x03\x04": "a zip archive (or .xlsx workbook)", b"\xd0\xcf\x11\xe0": "an Excel .xls workbook",
          b"\x1f\x8b": "a gzip archive", b"%PDF": "a PDF document"}
_DELIMITERS = (",", "\t", ";", "|")
# RecBole atomic files type their headers (`user_id:token`); any other colon is part of the name.
_RECBOLE_TYPE = re.compile(r":(token|token_seq|float|float_seq)$")
_FIELDS_ERROR = re.compile(r"Expected \d+ fields in line (\d+)")
_WHOLE_FLOAT = re.compile(r"-?(?:0|[1-9]\d*)\.0+")  # 1430.0, 12.00; not 007 or 1.5
_PLAIN_INT = re.compile(r"-?(?:0|[1-9]\d*)")
_NO_ID = ("nan", "NaN", "None", "<NA>", "null", "NULL")  # what a missing id turns into on the way to text


def read_table(path: str | Path, max_bytes: int | None = None, max_rows: int | None = None) -> pd.DataFrame:
    """Read a table file into a DataFrame of strings; raise DataError naming the file and the fix."""
    path = Path(path)
    _check_file(path, max_bytes)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        df = _read_parquet(path)
    elif suffix in (".jsonl", ".json", ".ndjson"):
        df = _read_json_lines(path)
    else:
        df = _read_delimited(path)
    if max_rows is not None and len(df) > max_rows:
        raise DataError(f"{path.name}: {len(df):,} rows is over the limit of {max_rows:,}; "
                        "split the file or raise the row limit (RECTUNE_MAX_ROWS).")
    if df.empty:
        raise DataError(f"{path.name}: has a header but no data rows; export the file again with its rows.")
    df.columns = _unique([clean_column_name(c) for c in df.columns])
    return _drop_blank_unnamed(df)


def clean_column_name(name: object) -> str:
    """' "Title" ' -> 'Title', '\\ufeffid' -> 'id', 'user_id:token' -> 'user_id'; other colons are kept."""
    name = str(name).replace("\ufeff", "").strip().strip("\"'").strip()
    return _RECBOLE_TYPE.sub("", name)


def _unique(names: list[str]) -> list[str]:
    # Cleaning can make two names equal ('a' and ' a '); pandas' own way out is 'a.1'.
    seen: dict[str, int] = {}
    out = []
    for name in names:
        out.append(f"{name}.{seen[name]}" if name in seen else name)
        seen[name] = seen.get(name, 0) + 1
    return out


def is_unnamed(column: object) -> bool:
    """A header cell that was blank: pandas names it 'Unnamed: 3' (an index column, a trailing delimiter)."""
    return str(column).strip() == "" or str(column).startswith("Unnamed: ")


def _drop_blank_unnamed(df: pd.DataFrame) -> pd.DataFrame:
    # A trailing delimiter on every line makes an unnamed column with nothing in it.
    blank = [c for c in df.columns if is_unnamed(c) and (df[c].astype(str).str.strip().isin(("", "nan", "None"))).all()]
    return df.drop(columns=blank) if blank else df


def _check_file(path: Path, max_bytes: int | None) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path.")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a file; give the path of the table file inside it.")
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{path.name}: the file is empty; export it again with a header row and data.")
    if max_bytes is not None and size > max_bytes:
        raise DataError(f"{path.name}: {size / MB:.1f} MB is over the upload limit of {max_bytes / MB:.0f} MB; "
                        "split the file or raise the limit (RECTUNE_MAX_UPLOAD_MB).")
    if path.suffix.lower() not in SUPPORTED:
        raise DataError(f"{path.name}: unsupported file type '{path.suffix}'; use CSV, TSV, Parquet or JSON Lines.")


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path).astype(str)
    except Exception as exc:  # pyarrow raises many types for a broken file
        raise DataError(f"{path.name}: not a readable Parquet file ({type(exc).__name__}); "
                        "export it again or save it as CSV.") from None


def _read_json_lines(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    _refuse_binary(path, raw[:_SNIFF_BYTES])
    text = _decode(raw)[0]
    try:
        if text.lstrip().startswith("["):
            return pd.read_json(io.StringIO(text), dtype=False).astype(str)
        return pd.read_json(io.StringIO(text), lines=True, dtype=False).astype(str)
    except ValueError as exc:
        raise DataError(f"{path.name}: not valid JSON Lines ({str(exc)[:80]}); write one JSON object per line.") from None


def _refuse_binary(path: Path, head: bytes) -> None:
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise DataError(f"{path.name}: this is {what}, not a text table; save it as CSV (UTF-8) and upload that.")
    if b"\x00" in head:
        raise DataError(f"{path.name}: contains NUL bytes, so it is binary or UTF-16; save it as CSV (UTF-8).")


def _decode(raw: bytes) -> tuple[str, str]:
    """UTF-8 (a BOM dropped); else Windows-1252, the usual 'ANSI' export; else Latin-1, which never fails."""
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    lenient = raw.decode("utf-8-sig", errors="replace")
    bad = lenient.count("\ufffd")
    if sum(ord(ch) > 127 and ch != "\ufffd" for ch in lenient[:1_000_000]) > 20 * bad:
        return lenient, "utf-8 (with a few undecodable bytes)"  # a UTF-8 file with a stray byte or two
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def _read_delimited(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    _refuse_binary(path, raw[:_SNIFF_BYTES])
    text, encoding = _decode(raw)
    sep = "\t" if path.suffix.lower() == ".tsv" else sniff_delimiter(text[:_SNIFF_BYTES])
    escaped = _backslash_escapes(text, sep)
    df = _parse(path, text, sep, "\\" if escaped else None)
    if escaped and df.attrs["skipped_lines"]:
        plain = _parse(path, text, sep, None)  # a field that merely ends in a backslash: read it plainly
        df = plain if plain.attrs["skipped_lines"] < df.attrs["skipped_lines"] else df
    _refuse_mostly_malformed(path, df)
    df.attrs["encoding"] = encoding
    return df


def _backslash_escapes(text: str, sep: str) -> bool:
    """`\\"` inside a field, as MySQL and PHP exports write a quote; not a field that merely ends in a backslash
    (`"C:\\temp\\",x`), where the quote is followed by the delimiter or the line end."""
    ends = f"[{re.escape(sep)}\r\n]" if len(sep) == 1 else "[\r\n]"
    return re.search(r'\\"(?!' + ends + "|$)", text) is not None


def sniff_delimiter(text: str) -> str:
    """The delimiter of the header line, never a line break, letter or digit. A header with none of , tab ; |
    is one column, unless every line splits into the same number of space-separated words."""
    lines = [re.sub(r'"[^"]*"', "", line) for line in text.splitlines()[:21]]  # quoted text may hold a comma
    header = lines[0] if lines else ""
    rows = lines[1:] or [header]
    # Of the delimiters in the header, the one most rows have as many of (as csv.Sniffer judges), then the commonest
    score = {sep: (header.count(sep) > 0, sum(r.count(sep) == header.count(sep) for r in rows), header.count(sep))
             for sep in _DELIMITERS}
    best = max(score, key=score.get)
    if score[best][0]:
        return best
    widths = {len(line.split()) for line in lines if line.strip()}
    if len(widths) == 1 and widths.pop() > 1 and len(lines) > 1:
        return r"\s+"
    return next((sep for sep in ("\t", "|", ";", ",") if sep not in text), "\t")


def _parse(path: Path, text: str, sep: str, escapechar: str | None) -> pd.DataFrame:
    options = dict(sep=sep, dtype=str, keep_default_na=False, escapechar=escapechar)
    try:
        try:
            df = pd.read_csv(io.StringIO(text), **options)
            df.attrs.update(skipped_lines=0, first_bad_line=None)
            return df
        except pd.errors.ParserError as exc:
            first_bad = _FIELDS_ERROR.search(str(exc))
            if not first_bad:
                raise
        bad: list[list[str]] = []  # the python engine hands each over-long line here instead of failing
        df = pd.read_csv(io.StringIO(text), engine="python", on_bad_lines=bad.append, **options)
        df.attrs.update(skipped_lines=len(bad), first_bad_line=int(first_bad.group(1)))
        return df
    except pd.errors.EmptyDataError:
        raise DataError(f"{path.name}: no columns found; the first line must be a header.") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path.name}: rows do not line up with the header ({_short(exc)}); "
                        "fix the quoting or the number of fields on that line.") from None
    except ValueError as exc:  # pandas signals odd input (delimiters, encodings) with plain ValueErrors
        raise DataError(f"{path.name}: cannot be read as a table ({_short(exc)}); "
                        "save it as CSV (UTF-8, comma-separated, one header line).") from None


def _refuse_mostly_malformed(path: Path, df: pd.DataFrame) -> None:
    skipped = df.attrs["skipped_lines"]
    if skipped and 2 * skipped >= skipped + len(df):
        raise DataError(f"{path.name}: {skipped:,} of {skipped + len(df):,} rows do not line up with the header "
                        f"(the first at line {df.attrs['first_bad_line']}: more fields than the header has); "
                        "check the delimiter and the quoting, or export the file again.")


def _short(exc: Exception) -> str:
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return lines[-1].replace("Error tokenizing data. C error: ", "")[:120]


def integer_ids(values: pd.Series, what: str = "item", file: str = "") -> tuple[pd.Series, str | None]:
    """Stripped ids; a column of whole numbers of which some are written as decimals (1430.0, as a float
    column saves) reads them as integers (1430), so it can match a file that wrote 1430. Ids with leading zeros,
    fractions or letters keep the whole column as written. Returns (ids, a note saying what changed or None)."""
    values = values.astype(str).str.strip()
    values = values.where(~np.logical_or.reduce([values == marker for marker in _NO_ID]), "")
    if not values.str.contains(".", regex=False).any():
        return values, None  # the usual case, settled without a regex over every id
    codes, uniques = pd.factorize(values)  # judged and rewritten once per distinct id
    uniques = pd.Series(uniques, dtype=object)
    filled = uniques[uniques != ""]
    floats = filled.str.fullmatch(_WHOLE_FLOAT)
    if not floats.any() or not (floats | filled.str.fullmatch(_PLAIN_INT)).all():
        return values, None
    example = filled[floats].iloc[0]
    note = (f"{what} ids written as decimals ({example}) were read as integers ({example.split('.')[0]})"
            f"{' in ' + file if file else ''}")
    ints = uniques.str.replace(r"\.0+$", "", regex=True).to_numpy()
    return pd.Series(ints[codes], index=values.index, dtype=values.dtype), note


def numbers(values: pd.Series) -> pd.Series:
    """Numbers, reading '3,5' as 3.5 when the column uses decimal commas (semicolon files from Excel)."""
    values = values.astype(str).str.strip()
    if values.str.fullmatch(r"-?\d+,\d+").any() and not values.str.contains(".", regex=False).any():
        values = values.str.replace(",", ".", regex=False)
    return pd.to_numeric(values, errors="coerce").astype(float)


def _key(name: object) -> str:
    return re.sub(r"[\W_]+", "", str(name).lower())


def alias_column(df: pd.DataFrame, aliases: tuple[str, ...], taken: set[str] | frozenset[str] = frozenset()) -> str | None:
    """The first alias that names a column (ignoring case and punctuation); never an unnamed column."""
    keys: dict[str, str] = {}
    for col in df.columns:
        if not is_unnamed(col) and col not in taken:
            keys.setdefault(_key(col), col)
    return next((keys[_key(a)] for a in aliases if _key(a) in keys), None)


def named_column(df: pd.DataFrame, wanted: str, file: str, what: str) -> str:
    """The column the user named: exactly, else the one column equal ignoring case and punctuation."""
    if wanted in df.columns:
        return wanted
    hits = [c for c in df.columns if _key(c) == _key(wanted)]
    if len(hits) == 1:
        return hits[0]
    raise DataError(f"{file}: no column '{wanted}' for the {what}; columns are: {', '.join(map(str, df.columns))}.")
