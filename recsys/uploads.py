"""Uploaded files land in the workspace's uploads/ folder under a safe name, never outside it; read back as
strings for previews."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from recsys.errors import DataError
from recsys.storage import atomic_write_bytes
from recsys.tables import MB, SUPPORTED

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(filename: str) -> str:
    """'../../etc/passwd.csv' -> 'passwd.csv': the last path part, with only safe characters."""
    base = Path(str(filename).replace("\\", "/")).name
    base = _UNSAFE.sub("_", base).lstrip(".") or "upload"
    stem, suffix = base[: len(base) - len(Path(base).suffix)], Path(base).suffix[:16]
    return stem[: 120 - len(suffix)] + suffix  # a long name is shortened, keeping its type


def save_upload(folder: Path, role: str, filename: str, data: bytes, max_bytes: int) -> Path:
    """Write an upload as `<folder>/<role>/<safe name>` (so messages about the file name the file the person
    chose); refuse unsupported types and oversize files."""
    name = safe_name(filename)
    if Path(name).suffix.lower() not in SUPPORTED:
        raise DataError(f"{filename}: unsupported file type '{Path(name).suffix or '(none)'}'; "
                        "upload CSV, TSV, Parquet or JSON Lines.")
    if len(data) > max_bytes:
        raise DataError(f"{filename}: {len(data) / MB:.1f} MB is over the upload limit of {max_bytes / MB:.0f} MB.")
    path = folder / role / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.resolve().parent != (folder / role).resolve():
        raise DataError(f"{filename}: not a usable file name.")
    atomic_write_bytes(path, data)
    return path


def read_upload(path: str | Path) -> pd.DataFrame:
    """An uploaded table as strings, for previews and column detection (DataError when unreadable)."""
    from recsys.data import ImportConfig
    from recsys.tables import read_table
    config = ImportConfig()
    return read_table(path, config.max_bytes, config.max_rows)
