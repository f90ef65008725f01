from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recsys.errors import RecTuneError
from recsys.positives import PositiveRule, default_rule, positives_setting, rule_from_config


def ratings(*values: float) -> pd.DataFrame:
    return pd.DataFrame({"user_id": ["u"] * len(values), "item_id": [f"i{k}" for k in range(len(values))],
                         "rating": list(values)})


def events(*names: str) -> pd.DataFrame:
    return pd.DataFrame({"user_id": ["u"] * len(names), "item_id": [f"i{k}" for k in range(len(names))],
                         "event": list(names)})


@pytest.mark.parametrize(("values", "threshold", "dislikes"), [
    ((1, 2, 3, 4, 5), 2.2, [1, 2]),  # 1 + 0.3 * 4
    ((0.5, 1.0, 1.5, 2.0, 3.5, 5.0), 1.85, [0.5, 1.0, 1.5]),  # 0.5 + 0.3 * 4.5
    ((1, 2, 3, 4, 7, 10), 3.7, [1, 2, 3]),  # 1 + 0.3 * 9
])
def test_an_explicit_rating_scale_makes_its_lowest_30_percent_dislikes(values, threshold, dislikes):
    df = ratings(*values)
    rule = default_rule(df)
    assert rule.min_rating == pytest.approx(threshold)
    assert rule.event_weights == {}
    weight, disliked = rule.weights(df)
    assert df["rating"][disliked].tolist() == dislikes
    np.testing.assert_array_equal(weight, np.where(disliked, 0.0, 1.0).astype(np.float32))


@pytest.mark.parametrize("values", [
    (4, 5, 4, 5, 5),  # fewer than 3 distinct values: not a scale
    (1, 20, 35, 100),  # above 10: counts or scores, not stars
    (1.3, 2.7, 4.1),  # not in half steps
    (-1, 0, 1),  # below 0
])
def test_a_rating_column_that_is_not_an_explicit_scale_keeps_every_row_positive(values):
    df = ratings(*values)
    rule = default_rule(df)
    assert rule == PositiveRule(None, {})
    weight, disliked = rule.weights(df)
    assert weight.tolist() == [1.0] * len(values)
    assert not disliked.any()


def book_crossing(*extra: float) -> pd.DataFrame:
    """Book-Crossing's shape: 0 = read but not rated (most rows), 1-10 = explicit."""
    return ratings(*([0] * 12), *range(1, 11), *extra)


def test_a_most_common_zero_below_a_scale_means_not_rated_and_is_a_positive():
    df = book_crossing()
    rule = default_rule(df)
    assert rule == PositiveRule(pytest.approx(3.7), {}, 0.0)  # 1 + 0.3 * 9, on the scale without the zeros
    weight, disliked = rule.weights(df)
    assert df["rating"][disliked].tolist() == [1, 2, 3]
    assert weight.tolist() == [1.0] * 12 + [0.0] * 3 + [1.0] * 7
    assert rule.describe() == ("ratings >= 3.7 are positives, lower ones count as thumbs-down; a rating of 0 "
                               "means none was given (an implicit interaction): a positive")


def test_a_value_set_apart_below_a_scale_means_not_rated_even_when_it_is_rare():
    df = ratings(-1, *range(1, 11), 8, 8, 9)  # "watched, not rated" = -1 below 1-10
    rule = default_rule(df)
    assert rule.unrated == -1.0 and rule.min_rating == pytest.approx(3.7)
    assert df["rating"][rule.weights(df)[1]].tolist() == [1, 2, 3]


@pytest.mark.parametrize(("values", "threshold"), [
    ((0, 1, 2, 3, 4, 5, 4, 5, 5), 1.5),  # a rare 0 at the foot of a 0-5 scale is its worst mark
    ((0, 1, 2, 3, 3.5, 4, 5, 4, 5), 1.5),  # ... even beside a stray half mark
    ((0.5, 1.0, 1.5, 4.0, 4.0, 5.0), 1.85),  # MovieLens: the lowest value is above 0
])
def test_the_lowest_mark_of_an_ordinary_scale_stays_a_rating(values, threshold):
    rule = default_rule(ratings(*values))
    assert rule.unrated is None
    assert rule.min_rating == pytest.approx(threshold)


@pytest.mark.parametrize(("counts", "threshold"), [
    ({0: 52, 1: 32, 2: 13, 3: 2, 4: 1}, 1.2),  # graded relevance: 0 (irrelevant) the most common, not dominant
    ({0: 12, 2: 10, 3: 10, 4: 10, 5: 10, 6: 10, 7: 10, 8: 10, 9: 10, 10: 10}, 3.0),  # 0-10, nobody gave a 1
    ({0: 3, 1: 5, 1.5: 5, 2: 5, 3: 5, 3.5: 5, 4: 5, 5: 5}, 1.5),  # half stars without 0.5
])
def test_a_common_worst_mark_or_a_missing_grade_above_it_keeps_it_a_rating(counts, threshold):
    df = ratings(*[value for value, n in counts.items() for _ in range(n)])
    rule = default_rule(df)
    assert rule == PositiveRule(pytest.approx(threshold), {}, None)
    assert 0 in df["rating"][rule.weights(df)[1]].tolist()  # the worst mark is a dislike, not a positive


def test_a_not_rated_value_counts_only_with_a_scale_above_it():
    assert default_rule(ratings(0, 0, 0, 1, 2)) == PositiveRule(pytest.approx(0.6), {})  # 0-2 is the scale
    assert default_rule(ratings(0, 0, 0, 0, 20, 35, 100)) == PositiveRule(None, {})  # not stars


def test_a_threshold_set_alone_keeps_the_not_rated_value_the_data_has():
    df = book_crossing()
    assert rule_from_config({"min_rating": 6.0}, df) == PositiveRule(6.0, {}, 0.0)
    assert rule_from_config({"min_rating": 6.0, "unrated": None}, df) == PositiveRule(6.0, {}, None)
    assert rule_from_config({"min_rating": 6.0}, pd.DataFrame()) == PositiveRule(6.0, {}, None)
    assert rule_from_config({"unrated": None}, df) == PositiveRule(3.0, {}, None)  # 0 back on the scale: 0-10
    rare = ratings(-1, *range(0, 11), *range(0, 11))  # a rare -1 right below 0-10: the data alone cannot tell
    assert default_rule(rare) == PositiveRule(None, {})  # below 0: not read as a scale
    assert rule_from_config({"unrated": -1}, rare) == PositiveRule(pytest.approx(3.0), {}, -1.0)
    weights_alone = rule_from_config({"event_weights": {"view": 0.5}}, df)  # the data's threshold stays
    assert weights_alone == PositiveRule(pytest.approx(3.7), {"view": 0.5}, 0.0)


def test_missing_and_non_numeric_ratings_are_ignored_when_reading_the_scale():
    df = pd.DataFrame({"rating": ["1", "2", "x", None, "5", "3"]})
    assert default_rule(df).min_rating == pytest.approx(2.2)


def test_known_event_names_get_their_strengths_and_unknown_ones_weigh_one():
    df = events("purchase", "Cart ", "VIEW", "share", "view")
    rule = default_rule(df)
    assert rule == PositiveRule(None, {"cart": 2.0, "purchase": 3.0, "share": 1.0, "view": 1.0})
    weight, disliked = rule.weights(df)
    assert weight.tolist() == [3.0, 2.0, 1.0, 1.0, 1.0]
    assert not disliked.any()


def test_a_single_event_name_or_none_at_all_gives_no_event_weights():
    assert default_rule(events("purchase", "purchase", "")).event_weights == {}
    assert default_rule(events("", "", "")).event_weights == {}
    missing = pd.DataFrame({"event": ["view", None, "view", np.nan]})
    assert default_rule(missing).event_weights == {}  # a missing event is no second name


def test_data_without_rating_or_event_values_makes_every_interaction_a_positive():
    bare = pd.DataFrame({"user_id": ["u", "v"], "item_id": ["i1", "i2"]})
    loaded = bare.assign(rating=np.nan, event="")  # how data.py fills absent columns
    for df in (bare, loaded):
        rule = default_rule(df)
        assert rule == PositiveRule(None, {})
        weight, disliked = rule.weights(df)
        assert weight.tolist() == [1.0, 1.0]
        assert disliked.tolist() == [False, False]


def test_weights_combine_the_rating_threshold_and_the_event_weights():
    df = pd.DataFrame({"rating": [1.0, 2.0, 3.0, np.nan, 5.0, 4.0],
                       "event": ["Purchase ", "view", "VIEW", "other", "purchase", "cart"]})
    rule = PositiveRule(2.2, {"purchase": 3.0, "view": 0.0, "cart": 2.0})
    weight, disliked = rule.weights(df)
    assert weight.dtype == np.float32
    # low ratings: disliked, weight 0; a view weighs 0 but is no dislike; no rating: not disliked
    np.testing.assert_array_equal(weight, np.array([0.0, 0.0, 0.0, 1.0, 3.0, 2.0], dtype=np.float32))
    np.testing.assert_array_equal(disliked, [True, True, False, False, False, False])


def test_a_rule_ignores_columns_the_data_does_not_have():
    df = pd.DataFrame({"user_id": ["u", "v"]})
    weight, disliked = PositiveRule(3.0, {"view": 0.0}).weights(df)
    assert weight.tolist() == [1.0, 1.0]
    assert disliked.tolist() == [False, False]


def test_an_empty_saved_rule_is_read_from_the_data_and_an_explicit_one_is_kept():
    df = ratings(1, 2, 3, 4, 5).assign(event=["view", "cart", "view", "view", "purchase"])
    read = default_rule(df)
    assert rule_from_config(None, df) == read
    assert rule_from_config({}, df) == read
    assert rule_from_config({"min_rating": 4.0}, df) == PositiveRule(4.0, read.event_weights)  # the rest: data
    assert rule_from_config({"min_rating": None, "event_weights": {}}, df) == PositiveRule(None, {})
    saved = {"min_rating": None, "event_weights": {"view": 0.0}}
    rule = rule_from_config(saved, df)
    assert rule == PositiveRule(None, {"view": 0.0})
    assert rule.event_weights is not saved["event_weights"]


def test_a_rule_survives_a_round_trip_through_the_saved_config():
    rule = PositiveRule(1.85, {"cart": 2.0, "view": 0.5})
    assert rule.to_dict() == {"min_rating": 1.85, "event_weights": {"cart": 2.0, "view": 0.5}, "unrated": None}
    saved = json.loads(json.dumps(rule.to_dict()))
    assert PositiveRule(**saved) == rule
    assert rule_from_config(saved, ratings(1, 2, 3)) == rule


def test_describe_says_the_threshold_and_the_event_weights():
    assert PositiveRule(2.2, {"view": 1.0, "cart": 2.0, "purchase": 3.0}).describe() == \
        "ratings >= 2.2 are positives, lower ones count as thumbs-down; event weights cart 2, purchase 3, view 1"
    assert default_rule(ratings(0.5, 1.0, 5.0)).describe() == \
        "ratings >= 1.85 are positives, lower ones count as thumbs-down"
    assert PositiveRule().describe() == "every interaction is a positive"


@pytest.mark.parametrize(("given", "normal"), [
    (None, {}),
    ({"unrated": "none"}, {"unrated": None}),  # text as a person types it, as the --unrated flag reads it
    ({"unrated": " ", "min_rating": 4}, {"min_rating": 4.0}),  # blank: read from the data
    ({"unrated": 0, "event_weights": {" Purchase": 3}}, {"unrated": 0.0, "event_weights": {"purchase": 3.0}}),
])
def test_a_given_positives_rule_is_checked_and_normalised(given, normal):
    assert positives_setting(given) == normal


@pytest.mark.parametrize(("given", "message"), [
    ({"min_ratng": 3}, "positives: give an object with some of event_weights, min_rating, unrated (unknown: "
                       "min_ratng)."),
    ([3], "positives: give an object with some of event_weights, min_rating, unrated."),
    ({"unrated": "zero"}, "positives.unrated: 'zero' is not a number or 'none' (e.g. 0)."),
    ({"min_rating": "4"}, "positives.min_rating: '4' is not a number or null."),
    ({"event_weights": {"view": -1}}, 'positives.event_weights: give an object of event name -> weight >= 0, '
                                      'e.g. {"purchase": 3, "view": 1}.'),
])
def test_a_bad_positives_rule_names_the_field_and_what_to_write(given, message):
    with pytest.raises(RecTuneError) as error:
        positives_setting(given)
    assert str(error.value) == message
