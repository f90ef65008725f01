"""First start: a ready demo workspace, and one shared encoder per process."""
from __future__ import annotations

import threading
from pathlib import Path

from recsys.demo import demo_paths
from recsys.pipeline import create_untuned_version, import_files
from recsys.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
_ENCODERS: dict[str, object] = {}
_LOCK = threading.Lock()


def shared_encoder(name: str):
    """One loaded encoder per model name for the whole process (loading takes seconds)."""
    from recsys.encoder import TextEncoder
    with _LOCK:
        if name not in _ENCODERS:
            _ENCODERS[name] = TextEncoder(name)
        return _ENCODERS[name]


def ensure_demo_workspace(home: Path, name: str = "demo", encoder_factory=shared_encoder) -> Workspace:
    """Import the bundled demo data and create the untuned version, once; later calls just open it."""
    with _LOCK_DEMO:
        ws = Workspace(home / name)
        if not ws.has_data():
            interactions, items = demo_paths(ROOT)
            import_files(ws, interactions, items)
        if not ws.versions():
            create_untuned_version(ws, encoder_factory)
        return ws


_LOCK_DEMO = threading.Lock()
