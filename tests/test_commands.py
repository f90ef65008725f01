from __future__ import annotations

import pytest

from recsys.cli import build_parser
from recsys.commands import _positives, _train_values
from recsys.errors import RecTuneError


def positives(*flags: str) -> dict | None:
    return _positives(build_parser().parse_args(["train", "--workspace", "w", *flags]))


def test_the_positives_flags_set_only_the_fields_given_the_rest_is_read_from_the_data():
    assert positives() is None
    assert positives("--event-weights", "purchase=3, View=0.5") == {"event_weights": {"purchase": 3.0, "view": 0.5}}
    assert positives("--min-rating", "4", "--unrated", "0") == {"min_rating": 4.0, "unrated": 0.0}
    assert positives("--unrated", "None") == {"unrated": None}


@pytest.mark.parametrize(("flags", "message"), [
    (("--unrated", "zero"), "--unrated: 'zero' is not a number or 'none' (e.g. 0)."),
    (("--unrated", "nan"), "--unrated: 'nan' is not a number or 'none' (e.g. 0)."),  # would match no rating
    (("--event-weights", "view=-1"), "--event-weights: 'view=-1' is not name=number with a number >= 0 "
                                     "(e.g. purchase=3,view=1)."),
])
def test_a_bad_positives_flag_names_itself_and_shows_a_valid_one(flags, message):
    with pytest.raises(RecTuneError) as error:
        positives(*flags)
    assert str(error.value) == message


def test_a_positives_flag_sets_its_field_over_the_config_files_rule(tmp_path):
    config = tmp_path / "c.json"
    config.write_text('{"positives": {"min_rating": 4, "event_weights": {"buy": 5}}, "dim": 64}')
    args = build_parser().parse_args(["train", "--workspace", "w", "--config", str(config), "--unrated", "none"])
    assert _train_values(args) == {"positives": {"min_rating": 4, "event_weights": {"buy": 5}, "unrated": None},
                                   "dim": 64}


def test_a_bad_rule_in_the_config_file_is_named_even_when_a_flag_sets_a_field(tmp_path):
    config = tmp_path / "c.json"
    config.write_text('{"positives": [4]}')
    args = build_parser().parse_args(["train", "--workspace", "w", "--config", str(config), "--unrated", "0"])
    with pytest.raises(RecTuneError, match="^positives: give an object with some of event_weights, min_rating, unrated.$"):
        _train_values(args)
