import json

import numpy as np
import pytest

from recsys.ann import AnnIndex, build_index, distance_rows, exact_top, indexed_rows, recall_at, top_k_with_index
from recsys.feedback import Feedback, FeedbackLedger
from recsys.recommend import Recommender
from recsys.synthetic import taste_catalog

N = 20_000


@pytest.fixture(scope="module")
def catalog():
    return taste_catalog(N, dim=128, n_users=120, topics=200)


def test_an_indexed_row_times_the_user_with_a_one_is_the_model_score_and_nearer_rows_score_higher(catalog):
    model, _ = catalog
    user = model.item_in[:5].mean(0)
    scores = model.scores(user[None, :])[0]
    np.testing.assert_allclose(indexed_rows(model.item_out, model.item_bias) @ np.append(user, 1.0), scores,
                               rtol=1e-5, atol=1e-6)
    distance = ((distance_rows(model.item_out, model.item_bias) - np.concatenate([user, [1.0, 0.0]])) ** 2).sum(1)
    assert np.argsort(distance)[:10].tolist() == np.argsort(-scores)[:10].tolist()


def test_calibration_picks_the_cheaper_kind_and_the_smallest_power_of_two_width_that_reaches_the_target(catalog):
    model, log = catalog
    rec = Recommender(model, log)
    hidden = [rec.sequences[u] for u in sorted(rec.sequences)]
    users = np.stack([model.user_vector(h) for h in hidden])
    ann = build_index(model.item_out, model.item_bias, users[:60], hidden[:60])
    truth = exact_top(model.item_out, model.item_bias, users[:60], hidden[:60], 10)
    assert (ann.stats.n_items, ann.stats.kind, ann.stats.lists) == (N, "ivf", 141)  # this catalog clusters well
    assert ann.stats.width in (1, 2, 4, 8, 16, 32) and ann.stats.recall >= 0.99
    assert recall_at(ann, users[:60], hidden[:60], truth, 10, ann.stats.width) == ann.stats.recall
    if ann.stats.width > 1:  # the next smaller width misses the target
        assert recall_at(ann, users[:60], hidden[:60], truth, 10, ann.stats.width // 2) < 0.99
    graph = build_index(model.item_out, model.item_bias, users[:60], hidden[:60], kinds=("hnsw",))
    assert graph.stats.kind == "hnsw" and graph.stats.width in (16, 32, 64, 128, 256, 512, 1024)
    assert graph.stats.recall >= 0.99 and recall_at(graph, users[:60], hidden[:60], truth, 10) == graph.stats.recall
    again = build_index(model.item_out, model.item_bias, users[:60], hidden[:60], kinds=("hnsw",))
    assert [again.search(u, 20).tolist() for u in users[:5]] == [graph.search(u, 20).tolist() for u in users[:5]]
    held_out = exact_top(model.item_out, model.item_bias, users[60:], hidden[60:], 10)
    assert recall_at(ann, users[60:], hidden[60:], held_out, 10) >= 0.98  # users it was not calibrated on


def test_hidden_items_never_come_back_and_k_items_still_do(catalog):
    model, log = catalog
    rec = Recommender(model, log)
    user = sorted(rec.sequences)[0]
    history = rec.sequences[user]
    ann = build_index(model.item_out, model.item_bias, np.zeros((0, 128), np.float32), [])
    vector = model.user_vector(history)
    assert (ann.stats.kind, ann.stats.width) == ("ivf", ann.stats.lists)  # nobody to calibrate on: every list
    best = top_k_with_index(ann, vector, history, 10)
    assert best.tolist() == exact_top(model.item_out, model.item_bias, vector[None], [history], 10)[0].tolist()
    hidden = np.concatenate([history, best[:5]])  # the five best are hidden too
    picks = top_k_with_index(ann, vector, hidden, 10)
    assert len(picks) == 10 and not np.isin(picks, hidden).any()
    assert picks[:5].tolist() == best[5:].tolist()


def test_large_catalogs_serve_through_the_index_saved_beside_the_version(catalog, tmp_path, monkeypatch):
    model, log = catalog
    ledger = FeedbackLedger(tmp_path / "ledger.sqlite")
    exact = Recommender(model, log, ledger)
    rec = Recommender(model, log, ledger, folder=tmp_path, ann_min_items=N)
    assert rec.uses_index() and not exact.uses_index() and not rec.uses_index(candidates=["i0000001"])
    users = sorted(rec.sequences)
    agree = [len({r.item_id for r in rec.recommend(u, 10)} & {r.item_id for r in exact.recommend(u, 10)})
             for u in users]
    assert np.mean(agree) >= 9.8
    user = users[0]
    got, want = rec.recommend(user, 10), exact.recommend(user, 10)
    same = {r.item_id: r.score for r in want}
    assert all(r.score == pytest.approx(same[r.item_id], abs=1e-5) for r in got if r.item_id in same)
    assert [r.rank for r in got] == list(range(1, 11)) and all(a.score >= b.score for a, b in zip(got, got[1:]))
    first = rec.recommend(user, 10)[0].item_id
    ledger.add(Feedback(user, first, "down", annotator="t"))
    assert first not in [r.item_id for r in rec.recommend(user, 10)]  # a thumbs-down acts at once here too
    import faiss
    flags, read = [], faiss.read_index
    monkeypatch.setattr(faiss, "read_index", lambda path, *flag: flags.append(flag) or read(path, *flag))
    saved = AnnIndex.load(tmp_path, N)
    assert saved is not None and saved.stats == rec.ann().stats
    assert flags == [(faiss.IO_FLAG_MMAP_IFC,)]  # its vectors mapped from the file, not read whole
    vector = model.user_vector(rec.sequences[user])  # the saved index (its vectors mapped) finds the same items
    assert saved.search(vector, 20).tolist() == rec.ann().search(vector, 20).tolist()
    assert AnnIndex.load(tmp_path, N + 1) is None  # another catalog size: rebuilt, not misused
    again = Recommender(model, log, ledger, folder=tmp_path, ann_min_items=N)
    assert again.ann().stats == rec.ann().stats


def test_an_index_below_the_recall_target_is_kept_but_lists_are_scored_exactly(catalog, tmp_path):
    model, log = catalog
    rec = Recommender(model, log, folder=tmp_path, ann_min_items=N)
    hidden = [rec.sequences[u] for u in rec.calibration_users()]
    users = np.stack([model.user_vector(h) for h in hidden])
    short = build_index(model.item_out, model.item_bias, users, hidden, target=1.01)  # no kind can reach it
    assert short.stats.kind == "hnsw" and short.stats.recall <= 1.0 and not short.meets_target
    short.save(tmp_path)
    assert not rec.uses_index() and rec.ann().stats == short.stats  # the saved index, not served from
    assert rec.ann().index is None  # nor held in memory
    exact = Recommender(model, log)
    user = sorted(rec.sequences)[0]
    assert [(r.item_id, r.score) for r in rec.recommend(user, 10)] == \
        [(r.item_id, r.score) for r in exact.recommend(user, 10)]
    assert build_index(model.item_out, model.item_bias, users[:0], []).meets_target  # nobody to calibrate on


def test_an_index_that_missed_its_target_is_saved_as_its_stats_and_serves_exact_lists_without_a_rebuild(
        catalog, tmp_path, monkeypatch):
    import dataclasses

    import recsys.ann
    model, log = catalog
    rec = Recommender(model, log, ann_min_items=N)
    hidden = [rec.sequences[u] for u in rec.calibration_users()]
    users = np.stack([model.user_vector(h) for h in hidden])
    short = build_index(model.item_out, model.item_bias, users, hidden, target=1.01)
    AnnIndex(None, short.stats).save(tmp_path)  # what Recommender.ann() keeps, and a round saves beside the version
    assert not (tmp_path / "ann.index").exists() and (tmp_path / "ann.json").exists()
    monkeypatch.setattr(recsys.ann, "build_index", lambda *args, **kwargs: pytest.fail("a page built the index"))
    fresh = Recommender(model, log, folder=tmp_path, ann_min_items=N)
    assert not fresh.uses_index() and fresh.ann().stats == short.stats and fresh.ann().index is None
    user = sorted(rec.sequences)[0]
    assert [r.item_id for r in fresh.recommend(user, 10)] == [r.item_id for r in Recommender(model, log).recommend(
        user, 10)]
    (tmp_path / "ann.index").write_bytes(b"null")  # how versions made before this fix saved it
    assert AnnIndex.load(tmp_path, N).index is None and AnnIndex.load(tmp_path, N).stats == short.stats
    met = dataclasses.replace(short.stats, recall=1.0, target=0.99)  # said to meet its target, its file unreadable
    (tmp_path / "ann.json").write_text(json.dumps(dataclasses.asdict(met)))
    assert AnnIndex.load(tmp_path, N) is None  # built again (here: refused), never a crash


def test_a_round_on_a_large_catalog_saves_its_index_so_no_page_builds_one(tmp_path, tiny_files, fake_encoder,
                                                                          monkeypatch):
    import recsys.recommend
    import recsys.rounds
    from recsys.config import TrainConfig
    from recsys.rounds import run_round
    from recsys.service import ImportRequest, Service
    service = Service(tmp_path / "w", lambda name: fake_encoder)
    service.import_files(ImportRequest(*tiny_files))  # v0001: six items, below the (real) threshold: no index
    assert not (service.ws.models_dir / "v0001" / "ann.index").exists()
    for module in (recsys.recommend, recsys.rounds):
        monkeypatch.setattr(module, "ANN_MIN_ITEMS", 6)  # the tiny catalog stands for a large one
    config = TrainConfig(dim=8, max_history=5, epochs=3, batch_size=8, val_users=2, min_examples=1)
    version = run_round(service.ws, config, lambda name: fake_encoder).version
    folder = service.ws.models_dir / version
    saved = AnnIndex.load(folder, 6)
    assert saved is not None and service.ws.version(version).metrics.extra["serving_index"]["n_items"] == 6
    rec = Recommender.from_workspace(service.ws, version)
    rec.ann_min_items = 6
    assert rec.uses_index() and rec.ann().stats == saved.stats  # loaded, not rebuilt
    assert len(rec.recommend("u1", 3)) == 3


def test_when_the_searched_part_is_mostly_hidden_the_list_falls_back_to_exact_scoring(catalog, monkeypatch):
    import recsys.recommend
    model, log = catalog
    rec = Recommender(model, log, ann_min_items=N)
    exact = Recommender(model, log)
    user = sorted(rec.sequences)[0]
    monkeypatch.setattr(recsys.recommend, "top_k_with_index", lambda ann, vector, hidden, k: np.array([0, 1, 2])[:k])
    assert [r.item_id for r in rec.recommend(user, 10)] == [r.item_id for r in exact.recommend(user, 10)]
    assert rec.recommend(user, 0) == []
