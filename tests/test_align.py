"""Encoders aligned to taste (align.py): a LoRA copy of the real packaged encoder tuned towards the trained item
vectors places only never-seen items; 'auto' keeps it only when it ranks items hidden from a second fit better."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.align import _held_out_report, align_encoder, with_aligned_cold_items
from recsys.config import TrainConfig
from recsys.encoder import DEFAULT_MODEL, TextEncoder, shared_encoder
from recsys.service import ImportRequest, Service
from recsys.serving import ServingModel
from recsys.versions import ENCODER_DIR

pytestmark = pytest.mark.slow
TOPICS = {"space": ["rocket", "planet", "orbit", "astronaut"], "kitchen": ["bread", "soup", "oven", "recipe"],
          "sea": ["sail", "harbour", "whale", "storm"], "garden": ["roses", "soil", "seeds", "hedge"]}


def catalog(n_per_topic: int = 20) -> pd.DataFrame:
    rows = []
    for topic, words in TOPICS.items():
        for i in range(n_per_topic):
            rows.append((f"{topic}{i:02d}", f"A {words[i % 4]} story, part {i}", topic,
                         f"{words[i % 4]} {words[(i + 1) % 4]} {topic} number {i}"))
    return pd.DataFrame(rows, columns=["item_id", "title", "category", "description"])


def test_only_never_seen_items_are_placed_by_the_aligned_text():
    model = ServingModel(item_ids=np.array(["a", "b", "c"], dtype=object), item_in=np.ones((3, 2), np.float32),
                         item_out=np.full((3, 2), 2.0, np.float32), item_bias=np.zeros(3, np.float32),
                         position_logits=np.zeros(4, np.float32), in_adapter=np.array([[1.0, 0, 0], [0, 1, 0]]),
                         out_adapter=np.array([[0, 0, 1.0], [1, 0, 0]]))
    text = np.array([[9.0, 9, 9], [1, 2, 3], [4, 5, 6]])
    aligned = with_aligned_cold_items(model, text, np.array([5, 0, 1]))
    assert aligned.item_in.tolist() == [[1, 1], [1, 2], [1, 1]]  # item b: its aligned text, nothing borrowed on top
    assert aligned.item_out.tolist() == [[2, 2], [3, 1], [2, 2]]
    assert model.item_in.tolist() == [[1, 1]] * 3  # the trained model itself is not changed


def test_the_held_out_comparison_credits_the_frozen_side_with_what_its_neighbours_lend():
    model = ServingModel(item_ids=np.array(["a", "b"], dtype=object), item_in=np.zeros((2, 2), np.float32),
                         item_out=np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), item_bias=np.zeros(2, np.float32),
                         position_logits=np.zeros(4, np.float32), in_adapter=np.eye(2), out_adapter=np.eye(2))
    frozen, aligned, held = np.array([[1.0, 0.0], [3.0, 0.0]]), np.array([[1.0, 1.0], [3.0, 3.0]]), np.array([0, 1])
    plain = _held_out_report(model, frozen, aligned, held)
    assert plain["align_error_frozen"] == pytest.approx((4 / 5 + 16 / 25) / 2)
    assert plain["align_gain"] > 0  # the aligned text is closer than the frozen text alone
    lent = _held_out_report(model, frozen, aligned, held, borrowed=np.array([[0.0, 2.0], [0.0, 4.0]]))
    assert lent["align_error_frozen"] == 0.0 and lent["align_gain"] < 0  # frozen text + the residual: exact


def test_auto_drops_an_alignment_that_cannot_beat_a_frozen_encoder_already_on_target():
    """Targets exactly adapter(frozen text): the frozen encoder is already perfect, so no alignment can win."""
    items = catalog()
    texts = items["description"].tolist()
    frozen = shared_encoder(DEFAULT_MODEL).encode(texts)
    rng = np.random.default_rng(0)
    adapter = rng.normal(size=(16, frozen.shape[1])).astype(np.float32)
    model = ServingModel(item_ids=items["item_id"].to_numpy(dtype=object), item_in=frozen @ adapter.T,
                         item_out=frozen @ adapter.T, item_bias=np.zeros(len(items), np.float32),
                         position_logits=np.zeros(4, np.float32), in_adapter=adapter, out_adapter=adapter)
    before = {k: v.clone() for k, v in shared_encoder(DEFAULT_MODEL).model.state_dict().items()}
    result = align_encoder(shared_encoder(DEFAULT_MODEL), model, texts, np.full(len(items), 9),
                           TrainConfig(encoder_tuning="auto", encoder_pairs=64, encoder_lr=1e-3))
    report = result.report
    # frozen: 0 up to rounding (fp32 ~1e-7; bf16 on CPUs with native bf16 ~1e-5); any alignment moves off target
    assert report["align_error_frozen"] < 1e-4 and report["align_error_aligned"] > 100 * report["align_error_frozen"]
    assert not result.keep and result.encoder is None and report["align_held_out_items"] == 20
    assert "encoder_dir" not in report and not any(k.startswith("drift_") for k in report)
    assert report["align_summary"].startswith("aligned encoder not kept (no gain beyond the noise): on 20 held-out")
    after = shared_encoder(DEFAULT_MODEL).model.state_dict()
    assert all(torch_equal(before[k], after[k]) for k in before)  # the packaged weights are never modified


def torch_equal(a, b) -> bool:
    return bool((a == b).all())


def topic_service(tmp_path, seen: list[str], users: int, seed: int) -> tuple[Service, pd.DataFrame]:
    """A workspace of the topic catalog where each user read 8 of `seen` items of one topic."""
    items = catalog()
    topic_of = dict(zip(items["item_id"], items["category"]))
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        mine = [i for i in seen if topic_of[i] == list(TOPICS)[u % 4]]
        rows += [(f"u{u}", item, t) for t, item in enumerate(rng.choice(mine, size=8, replace=False))]
    log = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    log.to_csv(tmp_path / "log.csv", index=False)
    items.to_csv(tmp_path / "items.csv", index=False)
    service = Service(tmp_path / "w")
    service.import_files(ImportRequest(tmp_path / "log.csv", tmp_path / "items.csv"))
    return service, log


def test_a_round_with_align_places_its_never_seen_items_with_the_saved_aligned_encoder(tmp_path):
    items = catalog()
    seen = items[~items["item_id"].str.endswith(("18", "19"))]["item_id"].tolist()  # 8 items nobody touched
    service, log = topic_service(tmp_path, seen, 60, 1)
    config = TrainConfig(encoder_tuning="align", encoder_pairs=64, epochs=2, min_examples=1, dim=16, kind="history")
    status = service.train(config, evaluate=False, background=False)
    assert status.state == "done", status.message
    version = service.ws.version(status.version)
    extra = version.metrics.extra
    assert extra["align_summary"].startswith("aligned encoder used for new items (as configured): on 20 held-out")
    eligible = int((log["item_id"].value_counts() >= 5).sum())
    assert extra["align_items"] == min(64, eligible - 20) and extra["encoder_dir"] == "encoder"
    model = ServingModel.load(version.path)
    saved = TextEncoder(str(version.path / ENCODER_DIR), device="cpu", precision=shared_encoder(DEFAULT_MODEL).precision)
    aligned = saved.encode(service.ws.load_dataset().items["text"].tolist())
    cold = ~np.isin(model.item_ids, seen)
    assert cold.sum() == 8
    gap = np.abs(model.item_out - aligned @ model.out_adapter.T).max(axis=1)
    assert gap[cold].max() < 1e-3 < gap[~cold].min()  # only the new items come from the aligned text


def test_auto_decides_by_ranking_the_items_a_second_fit_never_saw(tmp_path):
    from recsys.align import _wins
    service, _ = topic_service(tmp_path, catalog()["item_id"].tolist(), 120, 2)
    config = TrainConfig(encoder_tuning="auto", encoder_pairs=64, epochs=2, min_examples=1, dim=16, kind="history")
    status = service.train(config, evaluate=False, background=False)
    assert status.state == "done", status.message
    extra = service.ws.version(status.version).metrics.extra
    assert extra["align_check_hidden_items"] == 8  # a tenth of the 80 items with interactions
    assert extra["align_check_events"] >= 50 and 0 <= extra["align_check_ndcg_frozen"] <= 1
    assert extra["align_kept"] == _wins(extra) == (extra["align_check_gain"] > 2 * extra["align_check_gain_se"])
    assert "on a second fit that never saw 8 items, ranked as new items on" in extra["align_summary"]
    assert ("encoder_dir" in extra) == extra["align_kept"]
