from __future__ import annotations

from recsys.bench_scale import stage_rows
from recsys.events import StageClock, TrainEvent


def test_the_stage_clock_gives_the_time_up_to_each_event_to_that_events_stage():
    now = iter([0.0, 2.0, 5.0, 6.0, 10.0, 10.5, 11.0, 12.0])  # the first reading when the clock starts
    clock = StageClock(lambda: next(now))
    for stage in ("load", "encode", "train", "validate", "train", "save"):  # each reports work it has done
        clock(TrainEvent(stage, 1, 1))
    assert clock.seconds() == {"load": 2.0, "encode": 3.0, "train": 1.5, "validate": 4.0, "save": 1.5}


def test_a_stage_start_marker_gives_the_time_before_it_to_the_previous_stage():
    now = iter([0.0, 1.0, 61.0, 81.0, 82.0, 84.0])
    clock = StageClock(lambda: next(now))
    clock(TrainEvent("train", 1, 1))  # 1 s of training reported
    clock(TrainEvent("index", 0, 1))  # 60 s later the index starts: that minute was the training's tail
    clock(TrainEvent("index", 1, 1))  # the index built in 20 s
    clock(TrainEvent("save", 0, 1))  # 1 s after the index said it was done
    assert clock.seconds() == {"train": 61.0, "index": 21.0, "save": 2.0}
    first = StageClock(iter([0.0, 3.0, 4.0]).__next__)
    first(TrainEvent("load", 0, 1))  # a marker with no stage before it: its own
    assert first.seconds() == {"load": 4.0}


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
