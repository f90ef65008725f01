"""Compare: one user, two model versions side by side (untuned included), items linked across the lists, and
where each model ranks the user's real next choice."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.common import catalog, how_many, item_label, page_setup, pick_user, require_model, version_label

service = page_setup("Compare two models")
active = require_model(service)
items = catalog(service)
versions = service.versions()
names = [v.name for v in versions]
labels = {v.name: version_label(v) for v in versions}
before = service.untuned_name() or names[0]

c1, c2, c3 = st.columns([2, 2, 1])
left = c1.selectbox("Before", names, index=names.index(before), format_func=labels.get, key="compare_left")
right = c2.selectbox("After", names, index=names.index(active.name), format_func=labels.get, key="compare_right")
k = how_many(c3, "compare_k")
user = pick_user(service.recommender(active.name).users())
hide_last = st.toggle("Hide their last interaction and show where each model ranks it", key="compare_hide_last",
                      help="As if the user had not yet made their latest choice: a fair look at which model would "
                           "have suggested it.")

cmp = service.compare(user, left, right, int(k), hide_last)
if cmp.next_item is not None:
    st.subheader(cmp.next_sentence(item_label(items, cmp.next_item)))
st.caption(f"{cmp.shared} of {len(cmp.right_rows)} items are in both lists. In the right list, 'up 3' means three "
           "places higher than on the left; 'new' means the left list does not have it.")


def table(rows) -> pd.DataFrame:
    return pd.DataFrame([{"rank": r.pick.rank, "item": item_label(items, r.pick.item_id), "score": r.pick.score,
                          "change": r.change, "because of": "; ".join(item_label(items, b) for b in r.pick.because),
                          "is their next choice": r.pick.item_id == cmp.next_item} for r in rows],
                        columns=["rank", "item", "score", "change", "because of", "is their next choice"])


col_left, col_right = st.columns(2)
for column, name, rows in ((col_left, left, cmp.left_rows), (col_right, right, cmp.right_rows)):
    column.subheader(labels[name])
    column.dataframe(table(rows), hide_index=True, width="stretch",
                     column_config={"score": st.column_config.NumberColumn(format="%.3f"),
                                    "is their next choice": st.column_config.CheckboxColumn("next choice")})
