from __future__ import annotations

import os

import pytest

from recsys.errors import RecTuneError
from recsys.pipeline import import_files
from recsys.storage import atomic_write_json, read_json
from recsys.workspace import Workspace, list_workspaces, workspace_path


def test_versions_are_numbered_listed_and_activated(tmp_path):
    ws = Workspace(tmp_path / "w")
    fill = lambda folder: atomic_write_json(folder / "config.json", {"kind": "adapter"})
    assert [ws.write_version(fill), ws.write_version(fill)] == ["v0001", "v0002"]
    assert [(v.name, v.active) for v in ws.versions()] == [("v0001", False), ("v0002", True)]
    ws.activate("v0001")
    assert ws.active_name() == "v0001"
    with pytest.raises(RecTuneError, match="no model version 'v0009'"):
        ws.activate("v0009")


def test_a_version_whose_write_failed_is_never_listed(tmp_path):
    ws = Workspace(tmp_path / "w")

    def crash(folder):
        (folder / "weights.safetensors").write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        ws.write_version(crash)
    assert ws.versions() == [] and ws.active_name() is None
    assert [p.name for p in ws.models_dir.iterdir()] == []


def test_leftovers_of_a_killed_write_are_cleaned_on_open(tmp_path):
    ws = Workspace(tmp_path / "w")
    (ws.models_dir / ".v0003.new").mkdir(parents=True)
    (ws.models_dir / ".v0003.new" / "config.json").write_text("{}")
    assert Workspace(tmp_path / "w").versions() == []
    assert not (ws.models_dir / ".v0003.new").exists()


def test_a_crash_between_the_data_swap_renames_is_recovered(tmp_path, tiny_files):
    ws = Workspace(tmp_path / "w")
    import_files(ws, *tiny_files)
    os.rename(ws.data_dir, tmp_path / "w" / ".data.old")  # as if killed after the first rename
    reopened = Workspace(tmp_path / "w")
    assert reopened.load_dataset().report.interactions == 11


def test_a_refused_import_leaves_the_previous_data(tmp_path, tiny_files):
    ws = Workspace(tmp_path / "w")
    import_files(ws, *tiny_files)
    bad = tmp_path / "bad.csv"
    bad.write_text("nobody,nothing\n1,2\n")
    with pytest.raises(RecTuneError):
        import_files(ws, bad, tiny_files[1])
    assert ws.load_dataset().report.interactions == 11


def test_an_interrupted_atomic_write_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    atomic_write_json(path, {"a": 1})

    def killed(*args):
        raise KeyboardInterrupt  # as if the process died between writing the temp file and renaming it

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_json(path, {"a": 2})
    monkeypatch.undo()
    assert read_json(path) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_workspace_names_cannot_escape_home(tmp_path):
    for bad in ("../x", "a/b", "", ".hidden", "a" * 80):
        with pytest.raises(RecTuneError):
            workspace_path(tmp_path, bad)
    Workspace(workspace_path(tmp_path, "shop-2024"))
    assert list_workspaces(tmp_path) == ["shop-2024"]
