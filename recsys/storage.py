"""Atomic file writes and exclusive locks: a crash mid-write leaves the previous file (or folder) readable,
and files are created with the process's umask (an app and a CLI run by different users can share them)."""
from __future__ import annotations

import fcntl
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: object) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


def read_json(path: Path, default: object = None) -> object:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return default


def unique_token() -> str:
    """A name part no other writer uses: pid plus random hex."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def try_lock(path: Path):
    """An exclusive flock on `path` (the open file), or None if another process or handle holds it.
    flock dies with its process, so a crash frees it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return None
    return fh


def unlock(fh) -> None:
    if fh is not None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


def locked_elsewhere(path: Path) -> bool:
    """True while some process (or another handle of this one) holds the lock on `path`."""
    if not path.exists():
        return False
    fh = try_lock(path)
    if fh is None:
        return True
    unlock(fh)
    return False


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Block until this process holds the exclusive lock on `path`; writers of one workspace take turns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
