from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recsys.attention import SequenceModel
from recsys.attention_serving import last_states
from recsys.recommend import Recommender
from recsys.sequences import history_rows
from recsys.serving import ServingModel

N_ITEMS, TEXT_DIM, DIM, MAX_HISTORY = 7, 5, 8, 4
IDS = np.array([f"i{k}" for k in range(N_ITEMS)], dtype=object)
PAD = N_ITEMS


def small_model(blocks: int = 2, heads: int = 2, seed: int = 0) -> SequenceModel:
    """Random weights everywhere (ID vectors and biases too), eval mode: dropout off."""
    torch.manual_seed(seed)
    text = np.random.default_rng(seed).normal(size=(N_ITEMS, TEXT_DIM)).astype(np.float32)
    model = SequenceModel(text, np.ones(N_ITEMS, dtype=bool), DIM, MAX_HISTORY, use_item_ids=True,
                          blocks=blocks, heads=heads, dropout=0.2, id_init=0.3)
    with torch.no_grad():
        model.bias.weight[:-1].normal_(0.0, 1.0)
        model.position.normal_(0.0, 0.5)
    return model.eval()


def torch_users(model: SequenceModel, histories: list[np.ndarray]) -> np.ndarray:
    rows = history_rows({str(i): h for i, h in enumerate(histories)}, [str(i) for i in range(len(histories))],
                        MAX_HISTORY, PAD)
    with torch.no_grad():
        return model.users(torch.from_numpy(rows)).numpy()


HISTORIES = [np.array([3]), np.array([1, 2]), np.array([0, 1, 2, 3]), np.array([6, 5, 4, 3, 2, 1, 0])]


@pytest.mark.parametrize(("blocks", "heads"), [(2, 2), (1, 1), (0, 1)])
def test_numpy_serving_gives_the_user_vectors_and_scores_of_torch(blocks, heads):
    model = small_model(blocks, heads)
    serving = model.to_serving(IDS)
    assert serving.kind == "attention"
    assert serving.max_history == MAX_HISTORY
    expected = torch_users(model, HISTORIES)  # lengths 1, 2, max_history and longer than max_history
    got = serving.user_vectors(HISTORIES)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    with torch.no_grad():
        logits = model.logits(torch.from_numpy(expected)).numpy()
    np.testing.assert_allclose(serving.scores(got), logits, atol=1e-5)


def test_a_history_longer_than_max_history_is_served_from_its_last_items_only():
    serving = small_model().to_serving(IDS)
    long = np.array([6, 5, 4, 3, 2, 1, 0])
    np.testing.assert_array_equal(serving.user_vector(long), serving.user_vector(long[-MAX_HISTORY:]))
    assert not np.allclose(serving.user_vector(long), serving.user_vector(long[-MAX_HISTORY + 1:]))


def test_last_states_takes_a_batch_of_equal_length_histories():
    serving = small_model().to_serving(IDS)
    batch = np.array([[0, 1, 2], [4, 4, 6]])
    states = last_states(serving.attention, serving.item_in[batch])
    assert states.shape == (2, DIM)
    assert states.dtype == np.float32
    for row, history in zip(states, batch):
        np.testing.assert_allclose(row, serving.user_vector(history), atol=1e-6)


def test_an_empty_history_is_served_as_the_item_bias_alone():
    """A user with no history gets no vector (zeros), so their list is the learned item bias: a popularity
    fallback, the same for both kinds, rather than whatever the blocks make of padding."""
    serving = small_model().to_serving(IDS)
    user = serving.user_vector(np.zeros(0, np.int64))
    assert not user.any()
    np.testing.assert_allclose(serving.scores(user[None])[0], serving.item_bias, atol=0)


def test_a_later_item_does_not_change_the_states_at_earlier_positions():
    model = small_model()
    history = torch.tensor([[0, 1, 2, 3]])
    changed = torch.tensor([[0, 1, 5, 3]])
    with torch.no_grad():
        before, after = model.states(history), model.states(changed)
    torch.testing.assert_close(after[:, :2], before[:, :2], atol=1e-6, rtol=0)
    assert (after[:, 2:] - before[:, 2:]).abs().amax(-1).min() > 1e-3  # from the changed slot on, they move


def test_left_padding_does_not_change_the_last_state():
    model = small_model()
    with torch.no_grad():
        bare = model.users(torch.tensor([[4, 2]]))
        padded = model.users(torch.tensor([[PAD, PAD, 4, 2]]))
        mixed = model.users(torch.tensor([[PAD, 4, 2], [1, 4, 2]]))
    torch.testing.assert_close(padded, bare, atol=1e-6, rtol=0)
    torch.testing.assert_close(mixed[:1], bare, atol=1e-6, rtol=0)
    assert not torch.allclose(mixed[1], bare[0], atol=1e-3)  # a real item in that slot does count


def test_train_rows_keep_one_row_per_real_target():
    model = small_model()
    history = torch.tensor([[PAD, 0, 1], [2, 3, 4]])
    target = torch.tensor([[PAD, 1, 5], [3, 4, 6]])
    weight = torch.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, 3.0]])
    with torch.no_grad():
        users, targets, weights = model.train_rows(history, target, weight)
        states = model.states(history)
    assert targets.tolist() == [1, 5, 3, 4, 6]
    assert weights.tolist() == [1.0, 2.0, 1.0, 1.0, 3.0]
    torch.testing.assert_close(users[0], states[0, 1])
    torch.testing.assert_close(users[4], states[1, 2])


def test_each_targets_seen_items_are_the_windows_inputs_up_to_its_position_but_the_target():
    model = small_model()
    history = torch.tensor([[PAD, 0, 1], [2, 3, 2]])
    target = torch.tensor([[PAD, 1, 5], [3, 2, 6]])  # rows as train_rows keeps them: 1, 5, 3, 2, 6
    assert model.seen_items(history, target).tolist() == [[-1, 0, -1], [-1, 0, 1], [2, -1, -1], [-1, 3, -1],
                                                          [2, 3, 2]]
    ups = torch.tensor([[PAD, 0, 1]])  # (history -> one next item) rows: the history model's rule
    assert model.seen_items(ups, torch.tensor([0])).tolist() == [[-1, -1, 1]]


def test_save_and_load_keep_the_attention_weights_and_the_scores(tmp_path):
    serving = small_model().to_serving(IDS)
    serving.save(tmp_path)
    loaded = ServingModel.load(tmp_path)
    assert loaded.kind == "attention"
    assert loaded.item_ids.tolist() == IDS.tolist()
    assert sorted(loaded.attention) == sorted(serving.attention)
    for name, array in serving.attention.items():
        np.testing.assert_array_equal(loaded.attention[name], array)
    np.testing.assert_array_equal(loaded.scores(loaded.user_vectors(HISTORIES)),
                                  serving.scores(serving.user_vectors(HISTORIES)))


def leave_one_out(serving: ServingModel, recent: np.ndarray, item: int) -> np.ndarray:
    full = serving.user_vector(recent) @ serving.item_out[item]
    return np.array([full - serving.user_vector(np.delete(recent, i)) @ serving.item_out[item]
                     for i in range(len(recent))])


def recommender(serving: ServingModel) -> Recommender:
    log = pd.DataFrame({"user_id": ["u"] * 3, "item_id": ["i0", "i1", "i2"], "timestamp": [1, 2, 3], "row": [0, 1, 2]})
    return Recommender(serving, log)


def test_without_blocks_only_the_last_history_item_pulls():
    serving = small_model(blocks=0).to_serving(IDS)
    recent = np.array([0, 1, 2])
    pull = np.array([serving.pulls(recent, j)[-1] for j in range(N_ITEMS)])
    up, down = int(np.argmax(pull[3:])) + 3, int(np.argmin(pull[3:])) + 3
    assert pull[up] > 0 > pull[down]
    np.testing.assert_allclose(serving.pulls(recent, up)[:2], [0.0, 0.0], atol=1e-6)
    rec = recommender(serving)
    assert rec.explain(recent, up) == ("i2",)
    assert rec.explain(recent, down) == ()


def test_pulls_are_the_score_lost_when_each_history_item_is_left_out():
    serving = small_model().to_serving(IDS)
    recent = np.array([0, 1, 2, 3])
    for item in (4, 5, 6):
        np.testing.assert_allclose(serving.pulls(recent, item), leave_one_out(serving, recent, item), atol=1e-6)
    one = np.array([3])
    np.testing.assert_allclose(serving.pulls(one, 5), [serving.user_vector(one) @ serving.item_out[5]], atol=1e-6)


def test_explain_names_the_history_items_that_raise_the_score_most_first():
    serving = small_model().to_serving(IDS)
    rec = recommender(serving)
    recent = np.array([0, 1, 2, 3])
    for item in (4, 5, 6):
        pull = leave_one_out(serving, recent, item)
        expected = tuple(IDS[recent[i]] for i in np.argsort(-pull, kind="stable") if pull[i] > 0)
        assert rec.explain(recent, item, n=4) == expected
        assert rec.explain(recent, item, n=1) == expected[:1]
    own = np.array([0, 2, 1])
    assert np.argmax(serving.pulls(own, 0)) == 0 and serving.pulls(own, 0)[0] > 0  # i0 pulls itself up most ...
    assert rec.explain(own, 0, n=3) == ("i1", "i2")  # ... but never explains itself
    assert rec.explain(np.array([6, 5, 4, 3, 2, 1, 0]), 6, n=4) == rec.explain(np.array([3, 2, 1, 0]), 6, n=4)


def test_recommendations_of_an_attention_model_say_which_history_items_explain_them():
    rec = recommender(small_model().to_serving(IDS))
    picks = rec.recommend("u", k=4)
    assert [r.rank for r in picks] == [1, 2, 3, 4]
    assert {r.item_id for r in picks} == {"i3", "i4", "i5", "i6"}
    for r in picks:
        assert r.because == rec.explain(rec.history("u"), int(r.item_id[1:]))
        assert set(r.because) <= {"i0", "i1", "i2"}
    assert any(r.because for r in picks)


def test_dropout_keeps_values_in_eval_and_drops_a_share_p_scaled_up_in_training():
    from recsys.attention import Dropout
    drop = Dropout(0.25)
    x = torch.ones(200, 500)
    drop.eval()
    assert drop(x) is x
    drop.train()
    torch.manual_seed(0)
    out = drop(x)
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.75) < 0.01  # 100,000 draws: the share within 0.01
    assert torch.equal(out[kept], torch.full((int(kept.sum()),), 1 / 0.75))  # kept values scaled by 1 / (1 - p)
    torch.manual_seed(0)
    assert torch.equal(drop(x), out)  # the same seed, the same mask
    assert torch.equal(Dropout(0.0).train()(x), x)
