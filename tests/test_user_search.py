from recsys.user_search import find_users

USERS = sorted(["u1", "u10", "u100", "u11", "u2", "x-u1", "U1b", "abc"])


def test_the_exact_id_comes_first_then_ids_starting_with_it_then_ids_containing_it():
    assert find_users(USERS, "u1") == ["u1", "u10", "u100", "u11", "U1b", "x-u1"]
    assert find_users(USERS, " u10 ") == ["u10", "u100"]


def test_the_limit_holds_and_an_empty_query_lists_the_first_users():
    assert find_users(USERS, "u1", limit=2) == ["u1", "u10"]
    assert find_users(USERS, "", limit=3) == USERS[:3]


def test_a_query_nobody_matches_gives_nothing():
    assert find_users(USERS, "zzz") == []


def test_a_hundred_thousand_ids_are_searched_by_prefix_without_listing_them_all():
    users = sorted(f"{i:06d}" for i in range(100_000))
    found = find_users(users, "01234")
    assert found == [f"01234{d}" for d in range(10)] + ["001234"]
    assert find_users(users, "09") == [f"09{i:04d}" for i in range(50)]
