"""A workspace is one folder per dataset: imported data, model versions (versions.py), the feedback ledger and
job status. Any number of readers (pages, `status`, `recommend`) and writers in other processes may use it at
once: writers take turns under `write.lock`, build what they write under a name of their own and publish it
with one rename or pointer write; leftovers of crashed writers are removed only under that lock."""
from __future__ import annotations

import contextlib
import errno
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from recsys.data import Dataset, ImportReport
from recsys.errors import RecTuneError
from recsys.sequences import UserLog
from recsys.storage import atomic_write_json, exclusive, read_json, try_lock, unique_token, unlock
from recsys.versions import ModelVersion, VersionStore

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DATA_POINTER = "data.json"  # {"folder": "data-<token>"}: the data set in use
USER_LOG = "user_log.v1.npz"  # in a data folder: its log ordered per user (sequences.UserLog), made on first use
MARKER = "workspace.json"  # written when a workspace is made, so a home's other folders are not listed
_WORKSPACE_SIGNS = (MARKER, DATA_POINTER, "data", "models", "feedback.sqlite")


class Workspace:
    def __init__(self, root: str | Path, create: bool = True) -> None:
        self.root = _checked_root(root, create)
        self.store = VersionStore(self.root)

    models_dir = property(lambda self: self.root / "models")
    ledger_path = property(lambda self: self.root / "feedback.sqlite")
    job_path = property(lambda self: self.root / "job.json")
    job_lock_path = property(lambda self: self.root / "job.lock")
    cache_dir = property(lambda self: self.root / "cache")
    uploads_dir = property(lambda self: self.root / "uploads")
    name = property(lambda self: self.root.name)

    @property
    def data_dir(self) -> Path:
        """The folder of the data set in use (workspaces made before the pointer keep theirs in data/)."""
        pointer = read_json(self.root / DATA_POINTER, {}) or {}
        if pointer.get("folder"):
            return self.root / pointer["folder"]
        legacy = self.root / "data"
        return legacy if legacy.exists() or not (self.root / ".data.old").exists() else self.root / ".data.old"

    def has_data(self) -> bool:
        return (self.data_dir / "interactions.parquet").exists()

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Writers of this workspace take turns here; what a crashed writer left is cleaned up first."""
        try:
            with exclusive(self.root / "write.lock"):
                self._remove_leftovers()
                yield
        except PermissionError as exc:
            raise RecTuneError(f"cannot write in workspace '{self.root}': permission denied ({exc.filename}).") from None

    def save_dataset(self, dataset: Dataset, sources: dict[str, str] | None = None) -> None:
        """Write the data set beside the current one, then switch the pointer (readers see old or new)."""
        with self.write_lock():
            token = unique_token()
            tmp, final = self.root / f".data-{token}", self.root / f"data-{token}"
            tmp.mkdir()
            try:
                dataset.interactions.to_parquet(tmp / "interactions.parquet", index=False)
                dataset.items.to_parquet(tmp / "items.parquet", index=False)
                atomic_write_json(tmp / "import_report.json", dataset.report.to_dict())
                atomic_write_json(tmp / "sources.json", sources or {})
                tmp.rename(final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            previous = self.data_dir
            atomic_write_json(self.root / DATA_POINTER, {"folder": final.name, "previous": previous.name})
            self._remove_leftovers()  # the set before the previous one: readers have moved on

    def load_dataset(self) -> Dataset:
        return self._read_data(_read_dataset)

    def load_items(self) -> pd.DataFrame:
        """The catalog alone (a page showing titles need not read a 1M-row log)."""
        return self._read_data(lambda folder: pd.read_parquet(folder / "items.parquet"))

    def interaction_columns(self, names: tuple[str, ...]) -> pd.DataFrame:
        """Those of `names` the log has, and no other column."""
        def read(folder: Path) -> pd.DataFrame:
            import pyarrow.parquet as pq
            path = folder / "interactions.parquet"
            present = [n for n in names if n in pq.read_schema(path).names]
            return pd.read_parquet(path, columns=present)
        return self._read_data(read)

    def _read_data(self, read: Callable[[Path], object]):
        for attempt in (0, 1):  # a writer may switch the pointer while we read: read the new one then
            folder = self.data_dir
            try:
                return read(folder)
            except FileNotFoundError:
                if attempt or not self.has_data():
                    break
        raise RecTuneError(f"workspace '{self.name}' has no data yet; import a log and a catalog first.")

    def user_log(self) -> UserLog:
        """The data set's log ordered per user (sequences.UserLog), made once and kept in its data folder (an
        imported folder never changes; two readers making it at once write the same file)."""
        for attempt in (0, 1):  # as load_dataset: the pointer may move to a new data set while we read
            folder = self.data_dir
            try:
                return UserLog.load(folder / USER_LOG)
            except FileNotFoundError:
                pass
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # damaged: made again
                (folder / USER_LOG).unlink(missing_ok=True)
            try:
                log = UserLog.of(pd.read_parquet(folder / "interactions.parquet"))
            except FileNotFoundError:
                if attempt or not self.has_data():
                    break
                continue
            if folder.is_dir():  # not a folder removed meanwhile (the write would make it again)
                with contextlib.suppress(OSError):
                    log.save(folder / USER_LOG)
            return log
        raise RecTuneError(f"workspace '{self.name}' has no data yet; import a log and a catalog first.")

    def report(self) -> ImportReport | None:
        data = read_json(self.data_dir / "import_report.json")
        return _import_report(data) if data else None

    def sources(self) -> dict:
        return read_json(self.data_dir / "sources.json", {}) or {}

    def _remove_leftovers(self) -> None:
        """Under the write lock only: every live writer holds it, so what is here is a dead writer's."""
        pointer = read_json(self.root / DATA_POINTER, {}) or {}
        keep = {pointer.get("folder"), pointer.get("previous")}
        for path in self.root.iterdir():
            stale = path.name.startswith((".data-", ".data.new", ".data.old")) or (
                path.name.startswith("data-") and path.name not in keep and pointer.get("folder"))
            if stale and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
        self.store.remove_leftovers()

    # --- model versions (versions.py owns their format) ---------------------------------------------
    def versions(self) -> list[ModelVersion]:
        return self.store.all()

    def version(self, name: str) -> ModelVersion:
        return self.store.get(name)

    def active_name(self) -> str | None:
        return self.store.active_name()

    def active_version(self) -> ModelVersion | None:
        return self.store.active()

    def activate(self, name: str) -> None:
        self.store.activate(name)

    def write_version(self, fill: Callable[[Path], None], activate: bool = True) -> str:
        """Create the next version folder with `fill(tmp_path)`; it appears only when complete."""
        with self.write_lock():
            return self.store.write(fill, activate)


def _read_dataset(folder: Path) -> Dataset:
    report = _import_report(read_json(folder / "import_report.json", {}) or {})
    return Dataset(pd.read_parquet(folder / "interactions.parquet"), pd.read_parquet(folder / "items.parquet"), report)


def _import_report(data: dict) -> ImportReport:
    known = {k: v for k, v in data.items() if k in ImportReport.__dataclass_fields__}
    return ImportReport(**{**known, "warnings": tuple(known.get("warnings", ()))})


def _checked_root(root: str | Path, create: bool) -> Path:
    """The workspace folder, made if asked; one-line errors for unusable paths."""
    if not str(root).strip():
        raise RecTuneError("the workspace name is empty; give a folder name such as 'ws'.")
    path = Path(root).expanduser()
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise RecTuneError(f"{str(path)[:80]}...: not a usable workspace path ({_why(exc)}).") from None
    if exists and not is_dir:
        raise RecTuneError(f"{path}: is a file, not a workspace folder; give a folder path.")
    if not exists:
        if not create:
            raise RecTuneError(f"{path}: no workspace there; import data first (recsys import --interactions ...).")
        try:
            path.mkdir(parents=True)
            atomic_write_json(path / MARKER, {"format": 1})
        except OSError as exc:
            raise RecTuneError(f"{str(path)[:200]}: cannot create the workspace folder ({_why(exc)}).") from None
    return path


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return "the path is too long; choose a shorter name"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied or read-only; choose a writable folder (RECTUNE_HOME)"
    return exc.strerror or str(exc)


def list_workspaces(home: str | Path) -> list[str]:
    """Names of the workspaces under `home` (folders with a workspace's files; other folders are ignored)."""
    home = Path(home)
    if not home.is_dir():
        return []
    return sorted(p.name for p in home.iterdir() if p.is_dir() and _NAME.match(p.name)
                  and any((p / sign).exists() for sign in _WORKSPACE_SIGNS))


def workspace_path(home: str | Path, name: str) -> Path:
    """The folder of workspace `name` under `home`; refuses names that could escape it."""
    if not _NAME.match(name or "") or ".." in name:
        raise RecTuneError(f"workspace name '{name}' is not allowed; use letters, digits, '-', '_' or '.' "
                           "(at most 64 characters).")
    return Path(home) / name


def rename_workspace(home: str | Path, old: str, new: str) -> Path:
    """Rename a workspace folder (one rename: readers see the old name or the new one); refused while a job runs."""
    source, target = _existing(home, old), workspace_path(home, new)
    if target.exists():
        raise RecTuneError(f"a workspace or folder named '{new}' already exists; choose another name.")
    with _no_job(source):
        source.rename(target)
    return target


def remove_workspace(home: str | Path, name: str) -> None:
    """Delete a workspace with its data, models and thumbs; refused while a job runs. The folder is first
    renamed out of the list, so no reader sees a half-deleted workspace."""
    path = _existing(home, name)
    trash = path.with_name(f".deleted-{name}-{unique_token()}")
    with _no_job(path):
        path.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)


def _existing(home: str | Path, name: str) -> Path:
    path = workspace_path(home, name)
    if name not in list_workspaces(home):
        raise RecTuneError(f"no workspace '{name}' in {home}.")
    return path


@contextmanager
def _no_job(root: Path) -> Iterator[None]:
    """Hold the workspace's job lock, so that no job starts or runs meanwhile (jobs.JobRunner takes it too)."""
    fh = try_lock(root / "job.lock")
    if fh is None:
        raise RecTuneError(f"a job is running in workspace '{root.name}'; wait for it or cancel it first.")
    try:
        yield
    finally:
        unlock(fh)
