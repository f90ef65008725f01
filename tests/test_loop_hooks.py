from __future__ import annotations

import pytest
import torch

from recsys.loop_hooks import Check, LoopState, Race, WeightAverage, paired_gap


class Checks:
    """A stand-in for EarlyStopping as the race reads it: its checks, its best and the step of its last check."""

    def __init__(self) -> None:
        self.curve, self.best_check, self.checked = [], None, 0

    def check(self, state: LoopState, epoch: float, *gains: float) -> None:
        state.step = round(epoch * state.steps_per_epoch)
        self.curve.append(Check(epoch, sum(gains) / len(gains), gains))
        if self.best_check is None or self.curve[-1].ndcg > self.best_check.ndcg:
            self.best_check = self.curve[-1]
        self.checked = state.step


def same(epoch: float, gain: float) -> Check:
    """A check where each of 4 validation users gained `gain`."""
    return Check(epoch, gain, (gain,) * 4)


RIVAL = (same(1.0, 0.10), same(2.0, 0.20), same(3.0, 0.30), same(4.0, 0.28), same(5.0, 0.27))  # best at 3: start 1


def test_the_race_stops_a_model_behind_its_rival_by_the_same_epoch_once_a_third_of_the_rivals_budget_is_spent():
    events = []
    checks, state = Checks(), LoopState(torch.nn.Linear(1, 1), steps_per_epoch=10, total=100)
    race = Race(RIVAL, checks, [events.append])
    for epoch, gain in ((0.5, 0.0), (1.0, 0.15), (2.0, 0.21)):  # not before epoch 1; ahead at 1 and at 2
        checks.check(state, epoch, *(gain,) * 4)
        race.after_step(state)
        assert state.stop == ""
    checks.check(state, 3.0, 0.25, 0.25, 0.25, 0.25)  # every user 0.05 behind the rival's 0.30 by epoch 3
    race.after_step(state)
    assert state.stop == "race"
    assert events[-1].message == "stopped at epoch 3.0: best validation 0.2500, behind the other model's 0.3000 by " \
                                 "the same epoch by more than the noise (±0.0000)"


def test_a_rival_that_peaked_early_still_gets_the_model_one_whole_pass_before_the_race_stops_it():
    early = (same(0.25, 0.10), same(0.5, 0.30), same(0.75, 0.20), same(1.0, 0.20))  # best at 0.5: a third is 0.17
    checks, state = Checks(), LoopState(torch.nn.Linear(1, 1), steps_per_epoch=100, total=1000)
    race = Race(early, checks, [])
    for epoch in (0.25, 0.5, 0.75):  # far behind, but within the first pass
        checks.check(state, epoch, 0.01, 0.01, 0.01, 0.01)
        race.after_step(state)
        assert state.stop == ""
    checks.check(state, 1.0, 0.01, 0.01, 0.01, 0.01)
    race.after_step(state)
    assert state.stop == "race"


def test_a_gap_within_the_noise_of_the_paired_users_does_not_stop_the_race():
    checks, state = Checks(), LoopState(torch.nn.Linear(1, 1), steps_per_epoch=10, total=100)
    checks.check(state, 3.0, 0.0, 0.5, 0.0, 0.5)  # mean 0.25: behind by 0.05, but the users disagree
    assert paired_gap(RIVAL[2], checks.best_check) == pytest.approx((0.05, 0.25 / 3 ** 0.5))
    Race(RIVAL, checks, []).after_step(state)
    assert state.stop == ""


def test_the_race_compares_only_at_a_check_and_against_the_rivals_best_so_far():
    checks, state = Checks(), LoopState(torch.nn.Linear(1, 1), steps_per_epoch=10, total=100)
    race = Race(RIVAL, checks, [])
    checks.check(state, 5.0, 0.29, 0.29, 0.29, 0.29)
    state.step += 1  # a step after the check: nothing to compare
    race.after_step(state)
    assert state.stop == ""
    state.step -= 1
    race.after_step(state)
    assert state.stop == "race"  # the rival's best by epoch 5 is its 0.30 at epoch 3, not its 0.27 at 5
    for rival in ((), (same(9.0, 0.5),)):  # no rival; a rival with no check by this epoch
        state.stop = ""
        Race(rival, checks, []).after_step(state)
        assert state.stop == ""


def test_the_weight_average_follows_the_weights_with_a_horizon_of_about_the_given_epochs():
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    average = WeightAverage(model, epochs=1.0, steps_per_epoch=2)  # horizon 2 steps: then each update weighs 1/2
    assert (average.every, average.weight) == (1, 0.5)
    state = LoopState(model)
    for step, value in enumerate([4.0, 2.0, 8.0, 8.0], start=1):
        with torch.no_grad():
            model.weight.fill_(value)
        state.step = step
        average.after_step(state)
        if step == 2:  # within the horizon, the plain mean of the weights so far: the start (0) is not in it
            assert average.params[0].item() == pytest.approx(3.0)
    assert average.params[0].item() == pytest.approx((3.0 + 8.0) / 2 / 2 + 8.0 / 2)  # then halves: 6.75
    with average.swapped_in(model):
        assert model.weight.item() == pytest.approx(6.75)
    assert model.weight.item() == 8.0 and average.params[0].item() == pytest.approx(6.75)


def test_a_long_horizon_updates_the_average_every_few_steps_with_their_decay():
    model = torch.nn.Linear(1, 1, bias=False)
    average = WeightAverage(model, epochs=2.0, steps_per_epoch=300)  # horizon 600 steps: every 12th, 50 per horizon
    assert average.every == 12 and average.weight == pytest.approx(1 - (1 - 1 / 600) ** 12)
    state = LoopState(model)
    before = average.params[0].clone()
    with torch.no_grad():
        model.weight.fill_(5.0)
    state.step = 11
    average.after_step(state)
    assert torch.equal(average.params[0], before)  # not an update step
    state.step = 12
    average.after_step(state)
    assert average.params[0].item() == pytest.approx(5.0)  # the first update: the mean of one snapshot
