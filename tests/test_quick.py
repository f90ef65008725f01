from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.cli import main
from recsys.errors import RecTuneError
from recsys.quick import QuickConfig, new_thumbs, quick_update
from recsys.recommend import Recommender
from recsys.rounds import run_quick_round
from recsys.serving import ServingModel


def labels(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "label"])


def catalog_model(n_items: int = 40, dim: int = 6, seed: int = 1) -> ServingModel:
    """Random unit item vectors; untuned serving (user = recency-weighted mean of history vectors)."""
    vectors = np.random.default_rng(seed).normal(size=(n_items, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return ServingModel.untuned(np.array([f"i{j:02d}" for j in range(n_items)], dtype=object), vectors)


def log(n_users: int = 30, per_user: int = 4, n_items: int = 40, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [(f"u{u:02d}", f"i{j:02d}", t) for u in range(n_users)
            for t, j in enumerate(rng.choice(n_items, per_user, replace=False))]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(row=lambda d: range(len(d)))


def ranks(model: ServingModel, interactions: pd.DataFrame, user: str) -> dict[str, int]:
    recs = Recommender(model, interactions).recommend(user, len(model.item_ids), use_feedback=False, explain=0)
    return {r.item_id: r.rank for r in recs}


def test_new_thumbs_are_those_the_base_did_not_train_on_including_a_changed_label():
    seen = labels(("u1", "a", "up"), ("u1", "b", "down"))
    current = labels(("u1", "a", "up"), ("u1", "b", "up"), ("u2", "c", "down"))
    assert new_thumbs(current, seen).values.tolist() == [["u1", "b", "up"], ["u2", "c", "down"]]
    assert len(new_thumbs(current, None)) == 3


def test_an_up_enters_the_users_top_k_and_a_down_leaves_it():
    model, data = catalog_model(), log()
    u0 = {rank: item for item, rank in ranks(model, data, "u00").items()}
    u1 = {rank: item for item, rank in ranks(model, data, "u01").items()}
    u2 = {rank: item for item, rank in ranks(model, data, "u02").items()}
    near, last, top = u0[8], u1[len(u1)], u2[1]  # just below u00's top 5; u01's last; u02's first
    thumbs = labels(("u00", near, "up"), ("u02", top, "down"), ("u01", last, "up"))
    result = quick_update(model, data, thumbs, thumbs, QuickConfig(k=5))
    moves = {(m.user_id, m.item_id): m for m in result.moves}
    near_m, top_m, last_m = moves["u00", near], moves["u02", top], moves["u01", last]
    assert (near_m.rank_before, top_m.rank_before, last_m.rank_before) == (8, 1, len(u1))
    assert near_m.rank_after <= 5 and top_m.rank_after > 5
    # one thumb does not overrule the whole log: u01's last item rises, but the replay users keep it from the top
    assert 5 < last_m.rank_after < len(u1)
    assert all(m.moved_right_way for m in result.moves)
    assert result.thumbs == 3 and result.replay_users == 30


def test_only_the_thumbed_items_change_and_other_users_keep_most_of_their_lists():
    model, data = catalog_model(), log()
    before = ranks(model, data, "u00")
    item = min(before, key=before.get)
    result = quick_update(model, data, labels(("u00", item, "down")), labels(("u00", item, "down")))
    changed = np.flatnonzero(np.any(result.model.item_out != model.item_out, axis=1) |
                             (result.model.item_bias != model.item_bias))
    assert model.item_ids[changed].tolist() == [item]
    np.testing.assert_array_equal(result.model.item_in, model.item_in)
    assert 0.9 <= result.kept_top_k < 1.0  # the down item left some lists: it is shared by similar users


def test_the_update_is_deterministic_and_reports_only_the_new_thumbs():
    model, data = catalog_model(), log()
    old, fresh = labels(("u01", "i03", "down")), labels(("u02", "i07", "up"))
    every = pd.concat([old, fresh], ignore_index=True)
    a = quick_update(model, data, every, fresh)
    b = quick_update(model, data, every, fresh)
    np.testing.assert_array_equal(a.model.item_out, b.model.item_out)
    assert [(m.user_id, m.item_id) for m in a.moves] == [("u02", "i07")] and a.thumbs == 2


def test_without_new_thumbs_there_is_nothing_to_apply():
    with pytest.raises(RecTuneError, match="no new thumbs"):
        quick_update(catalog_model(), log(), labels(("u1", "i01", "up")), labels())


def test_a_quick_round_is_a_new_active_version_and_refuses_to_run_twice_on_the_same_thumbs(tiny_service):
    service = tiny_service
    service.record_thumb("u1", "i5", "up", "ann")
    service.record_thumb("u1", "i4", "down", "ann")
    status = service.quick_round(background=False)
    assert status.state == "done" and status.version == "v0002"
    version = service.active_version()
    assert version.name == "v0002" and version.config["round"] == "quick"
    assert version.config["previous_version"] == "v0001" and version.metrics.stopped_by == "quick update"
    assert sorted((m["item_id"], m["label"]) for m in version.metrics.extra["quick"]["moves"]) == \
        [("i4", "down"), ("i5", "up")]
    assert pd.read_csv(version.path / "feedback_seen.csv")["item_id"].tolist() == ["i5", "i4"]
    again = service.quick_round(background=False)
    assert again.state == "failed" and "no new thumbs since v0002" in again.message
    assert service.active_version().name == "v0002" and len(service.versions()) == 2


def test_a_quick_round_refuses_a_catalog_that_changed_since_the_base(tiny_service, tmp_path):
    service = tiny_service
    service.record_thumb("u1", "i5", "up")
    (service.ws.models_dir / "v0001" / "item_ids.txt").write_text("i1\ni2\ni3\ni4\ni5\nzz\n")
    with pytest.raises(RecTuneError, match="catalog changed since v0001"):
        run_quick_round(service.ws)


def test_cli_train_quick_prints_each_thumbs_move_and_refuses_data_flags(tiny_service, capsys, monkeypatch):
    import recsys.service as service_module
    encoder = tiny_service.encoder_factory
    monkeypatch.setattr(service_module, "default_encoder_factory", encoder)
    tiny_service.record_thumb("u2", "i2", "down")
    root = str(tiny_service.ws.root)
    assert main(["train", "--workspace", root, "--quick"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("down user u2 item i2: rank 1 -> ") and "made v0002" in out.err
    assert main(["train", "--workspace", root, "--quick", "--evaluate"]) == 2
    assert "--quick adjusts the active version" in capsys.readouterr().err
