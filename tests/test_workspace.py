from __future__ import annotations

import os
import shutil
import stat

import numpy as np
import pandas as pd
import pytest

from recsys.data import import_dataset
from recsys.errors import RecTuneError
from recsys.sequences import UserLog
from recsys.storage import FILE_MODE, atomic_write_json, read_json
from recsys.workspace import USER_LOG, Workspace, list_workspaces, workspace_path


def import_files(ws: Workspace, log, items) -> None:
    ws.save_dataset(import_dataset(log, items))


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


def test_opening_a_workspace_never_touches_another_writers_folders(tmp_path):
    ws = Workspace(tmp_path / "w")
    building = ws.models_dir / ".v0003.1234-abcd"  # a version another process is writing right now
    building.mkdir(parents=True)
    (building / "config.json").write_text("{}")
    assert Workspace(tmp_path / "w").versions() == [] and building.exists()  # not listed, not removed


def test_leftovers_of_a_killed_writer_go_at_the_next_write_under_the_lock(tmp_path, tiny_files):
    ws = Workspace(tmp_path / "w")
    (ws.models_dir / ".v0003.1234-abcd").mkdir(parents=True)
    (tmp_path / "w" / ".data-1234-abcd").mkdir()
    import_files(ws, *tiny_files)  # a writer: takes the lock, then cleans
    assert sorted(p.name for p in (tmp_path / "w").iterdir() if p.name.startswith(".")) == []
    assert list(ws.models_dir.iterdir()) == []


def test_a_new_data_set_replaces_the_old_with_one_pointer_write(tmp_path, tiny_files):
    ws = Workspace(tmp_path / "w")
    import_files(ws, *tiny_files)
    first = ws.data_dir
    import_files(ws, *tiny_files)
    assert ws.data_dir != first and first.exists()  # the previous set stays for readers still on it
    import_files(ws, *tiny_files)
    assert not first.exists()  # two writes later it is gone
    assert ws.load_dataset().report.interactions == 11


def test_the_catalog_and_chosen_log_columns_are_read_without_the_rest(tmp_path, tiny_files):
    ws = Workspace(tmp_path / "w")
    import_files(ws, *tiny_files)
    full = ws.load_dataset()
    pd.testing.assert_frame_equal(ws.load_items(), full.items)
    assert list(ws.interaction_columns(("colour", "user_id", "size")).columns) == ["user_id"]  # those it has
    pd.testing.assert_series_equal(ws.interaction_columns(("user_id",))["user_id"], full.interactions["user_id"])
    shutil.rmtree(ws.data_dir)
    with pytest.raises(RecTuneError, match="no data yet"):
        ws.load_items()


def test_a_workspace_made_before_the_data_pointer_still_reads_its_data_folder(tmp_path, tiny_files):
    ws = Workspace(tmp_path / "w")
    import_files(ws, *tiny_files)
    os.rename(ws.data_dir, tmp_path / "w" / "data")
    (tmp_path / "w" / "data.json").unlink()
    assert Workspace(tmp_path / "w").load_dataset().report.interactions == 11


def test_state_files_follow_the_umask(tmp_path):
    atomic_write_json(tmp_path / "job.json", {"a": 1})
    assert stat.S_IMODE((tmp_path / "job.json").stat().st_mode) == FILE_MODE


def test_unusable_workspace_paths_are_one_line_errors(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    for bad, words in ((tmp_path / "file.txt", "is a file"), ("", "empty"), (tmp_path / ("x" * 300), "too long"),
                       (tmp_path / "file.txt" / "sub", "cannot create")):
        with pytest.raises(RecTuneError, match=words):
            Workspace(bad)


def test_a_refused_import_leaves_the_previous_data(tmp_path, tiny_files):
    ws = Workspace(tmp_path / "w")
    import_files(ws, *tiny_files)
    bad = tmp_path / "bad.csv"
    bad.write_text("nobody,nothing\n1,2\n")
    with pytest.raises(RecTuneError):
        import_files(ws, bad, tiny_files[1])
    assert [p.name for p in (tmp_path / "w").iterdir() if p.name.startswith("data-")] == [ws.data_dir.name]
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
    (tmp_path / "some-other-folder").mkdir()  # not a workspace: not listed
    assert list_workspaces(tmp_path) == ["shop-2024"]


def test_a_workspace_can_be_renamed_and_deleted_but_not_while_a_job_runs(tmp_path):
    from recsys.storage import try_lock, unlock
    from recsys.workspace import list_workspaces, remove_workspace, rename_workspace
    Workspace(tmp_path / "shop")
    Workspace(tmp_path / "other")
    assert rename_workspace(tmp_path, "shop", "shop-2") == tmp_path / "shop-2"
    assert list_workspaces(tmp_path) == ["other", "shop-2"]
    with pytest.raises(RecTuneError, match="'other' already exists"):
        rename_workspace(tmp_path, "shop-2", "other")
    held = try_lock(tmp_path / "other" / "job.lock")  # as a running job holds it
    with pytest.raises(RecTuneError, match="a job is running in workspace 'other'"):
        remove_workspace(tmp_path, "other")
    unlock(held)
    remove_workspace(tmp_path, "other")
    assert list_workspaces(tmp_path) == ["shop-2"] and sorted(p.name for p in tmp_path.iterdir()) == ["shop-2"]
    with pytest.raises(RecTuneError, match="no workspace 'nope'"):
        remove_workspace(tmp_path, "nope")
    with pytest.raises(RecTuneError, match="not allowed"):
        rename_workspace(tmp_path, "shop-2", "../escape")


def test_reset_demo_starts_the_demo_afresh(tmp_path, fake_encoder):
    from recsys.service import open_demo, reset_demo
    service = open_demo(tmp_path, encoder_factory=lambda name: fake_encoder)
    service.record_thumb("U0001", "B00001", "up")
    fresh = reset_demo(tmp_path, encoder_factory=lambda name: fake_encoder)
    assert fresh.ledger().count() == 0 and [v.name for v in fresh.versions()] == ["v0001"]


def test_the_log_ordered_per_user_is_made_once_per_data_set_and_a_new_import_gets_its_own(tmp_path, tiny_files,
                                                                                         monkeypatch):
    ws = Workspace(tmp_path / "w")
    import_files(ws, *tiny_files)
    first = ws.user_log()
    kept = ws.data_dir / USER_LOG
    assert kept.exists() and first.users.tolist() == ["u1", "u2", "u3", "u4"]
    with monkeypatch.context() as patch:  # read back, not made again
        patch.setattr(UserLog, "of", lambda train: pytest.fail("the kept log was not used"))
        assert ws.user_log().sequences(np.array(["i1", "i3", "i2"]))["u1"].tolist() == [0, 1, 2]
    for damage in (b"not a zip", kept.read_bytes()[:100]):  # a damaged copy is made again
        kept.write_bytes(damage)
        assert ws.user_log().bounds.tolist() == first.bounds.tolist()
    UserLog(first.users, first.bounds[:-1], first.items, first.item_ids).save(kept)  # parts that do not fit
    assert ws.user_log().bounds.tolist() == first.bounds.tolist()
    log, items = tiny_files
    pd.read_csv(log).iloc[:3].to_csv(log, index=False)
    import_files(ws, log, items)
    assert ws.user_log().users.tolist() == ["u1"]
    with pytest.raises(RecTuneError, match="no data yet"):
        Workspace(tmp_path / "empty").user_log()
