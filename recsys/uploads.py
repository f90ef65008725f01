"""Uploaded files land in the workspace's uploads/ folder under a safe name, never outside it."""
from __future__ import annotations

import re
from pathlib import Path

from recsys.errors import DataError
from recsys.storage import atomic_write_bytes
from recsys.tables import SUPPORTED

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(filename: str) -> str:
    """'../../etc/passwd.csv' -> 'passwd.csv': the last path part, with only safe characters."""
    base = Path(str(filename).replace("\\", "/")).name
    base = _UNSAFE.sub("_", base).lstrip(".") or "upload"
    return base[:120]


def save_upload(folder: Path, role: str, filename: str, data: bytes, max_bytes: int) -> Path:
    """Write an upload as `<folder>/<role>-<safe name>`; refuse unsupported types and oversize files."""
    name = safe_name(filename)
    if Path(name).suffix.lower() not in SUPPORTED:
        raise DataError(f"{filename}: unsupported file type; upload CSV, TSV, Parquet or JSON Lines.")
    if len(data) > max_bytes:
        raise DataError(f"{filename}: {len(data) / 1e6:.1f} MB is over the upload limit of {max_bytes / 1e6:.0f} MB.")
    path = folder / f"{role}-{name}"
    if path.resolve().parent != folder.resolve():
        raise DataError(f"{filename}: not a usable file name.")
    atomic_write_bytes(path, data)
    return path
