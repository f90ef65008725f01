"""Reading user files (CSV, TSV, Parquet, JSON Lines) into string DataFrames, refusing what is not a table."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from recsys.errors import DataError

SUPPORTED = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".jsonl", ".json", ".ndjson")
_SNIFF_BYTES = 64 * 1024
# Magic numbers of files people rename to .csv by mistake.
_MAGIC = {b"PK\x03\x04": "a zip archive (or .xlsx workbook)", b"\xd0\xcf\x11\xe0": "an Excel .xls workbook",
          b"\x1f\x8b": "a gzip archive", b"%PDF": "a PDF document"}


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
    df.columns = [str(c).strip().split(":")[0] for c in df.columns]
    return df


def _check_file(path: Path, max_bytes: int | None) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path.")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a file; give the path of the table file inside it.")
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{path.name}: the file is empty; export it again with a header row and data.")
    if max_bytes is not None and size > max_bytes:
        raise DataError(f"{path.name}: {size / 1e6:.1f} MB is over the upload limit of {max_bytes / 1e6:.0f} MB; "
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
    head = _decode(path, path.read_bytes()[:_SNIFF_BYTES])[0].lstrip()
    try:
        if head.startswith("["):
            return pd.read_json(path, dtype=False).astype(str)
        return pd.read_json(path, lines=True, dtype=False).astype(str)
    except ValueError as exc:
        raise DataError(f"{path.name}: not valid JSON Lines ({str(exc)[:80]}); write one JSON object per line.") from None


def _decode(path: Path, raw: bytes) -> tuple[str, str]:
    for magic, what in _MAGIC.items():
        if raw.startswith(magic):
            raise DataError(f"{path.name}: this is {what}, not a text table; save it as CSV (UTF-8) and upload that.")
    if b"\x00" in raw:
        raise DataError(f"{path.name}: contains NUL bytes, so it is binary or UTF-16; save it as CSV (UTF-8).")
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start > len(raw) - 4 and len(raw) == _SNIFF_BYTES:
            return raw[: exc.start].decode("utf-8"), "utf-8"  # a character cut by the sniff window
        return raw.decode("latin-1"), "latin-1"


def _read_delimited(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    text, encoding = _decode(path, raw[:_SNIFF_BYTES])
    if encoding == "utf-8" and len(raw) > _SNIFF_BYTES:
        encoding = _full_encoding(path, raw)
    sep = "\t" if path.suffix.lower() == ".tsv" else _sniff_delimiter(text)
    try:
        df = pd.read_csv(io.BytesIO(raw), sep=sep, dtype=str, keep_default_na=False, encoding=encoding,
                         on_bad_lines="error", engine="python" if sep not in (",", "\t", ";", "|") else "c")
    except pd.errors.ParserError as exc:
        raise DataError(f"{path.name}: rows do not line up with the header ({_short(exc)}); "
                        "fix the quoting or the number of fields on that line.") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path.name}: no columns found; the first line must be a header.") from None
    df.attrs["encoding"] = encoding
    return df


def _full_encoding(path: Path, raw: bytes) -> str:
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "latin-1"


def _sniff_delimiter(text: str) -> str:
    header = text.splitlines()[0] if text else ""
    counts = {sep: header.count(sep) for sep in (",", "\t", ";", "|")}
    best = max(counts, key=counts.get)
    if counts[best] == 0:
        try:
            return csv.Sniffer().sniff(text[:4096]).delimiter
        except csv.Error:
            return ","
    return best


def _short(exc: Exception) -> str:
    msg = str(exc).strip().splitlines()[-1]
    return msg.replace("Error tokenizing data. C error: ", "")[:120]
