from __future__ import annotations

import pandas as pd

from recsys.exports import ledger_with_titles, neutralise_formulas, to_safe_csv


def test_cells_a_spreadsheet_would_run_get_a_leading_apostrophe():
    frame = pd.DataFrame({"title": ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx", "plain", "a=b"],
                          "n": [1, 2, 3, 4, 5, 6, 7]})
    out = neutralise_formulas(frame)
    assert out["title"].tolist() == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)", "'\tx", "plain", "a=b"]
    assert out["n"].tolist() == [1, 2, 3, 4, 5, 6, 7] and frame["title"][0].startswith("=")  # numbers kept; a copy
    assert to_safe_csv(frame.head(1)).decode().splitlines()[1].startswith("\"'=HYPERLINK(")


def test_string_dtype_columns_are_neutralised_too():
    frame = pd.DataFrame({"title": pd.Series(["=1+1"], dtype="string")})
    assert neutralise_formulas(frame)["title"].tolist() == ["'=1+1"]


def test_the_ledger_gets_each_items_title():
    ledger = pd.DataFrame({"item_id": ["b", "zz"], "label": ["up", "down"]})
    items = pd.DataFrame({"title": ["A", "B"]}, index=pd.Index(["a", "b"], name="item_id"))
    assert ledger_with_titles(ledger, items)["title"].tolist() == ["B", ""]
