from __future__ import annotations

from recsys.bench_scale import stage_rows
from recsys.events import StageClock, TrainEvent


def test_the_stage_clock_gives_the_time_up_to_each_event_to_that_events_stage():
    now = iter([0.0, 2.0, 5.0, 6.0, 10.0, 10.5, 11.0, 12.0])  # the first reading when the clock starts
    clock = StageClock(lambda: next(now))
    for stage in ("load", "encode", "train", "validate", "train", "save"):  # each reports work it has done
        clock(TrainEvent(stage, 1, 1))
    assert clock.seconds() == {"load": 2.0, "encode": 3.0, "train": 1.5, "validate": 4.0, "save": 1.5}


def test_a_clock_that_heard_nothing_has_no_stages():
    assert StageClock(lambda: 1.0).seconds() == {}


def test_the_benchmark_says_where_a_round_went_and_the_round_without_encoding():
    metrics = {"stage_seconds": [["load", 3.2], ["encode", 240.4], ["train", 500.0], ["index", 36.0]],
               "kind_seconds": {"history": 320.0, "attention": 190.0}}
    assert stage_rows("large set", metrics, 800.0) == [
        ("large set", "the round's stages (s; validation checks apart from training)",
         "load 3, encode 240, train 500, index 36 (training and its checks by kind: history model 320, "
         "attention model 190)"),
        ("large set", "the round without encoding the catalog (s)", "560")]
    assert stage_rows("large set", {}, 800.0) == []
