"""Recommend: a user's history, their top-k with scores and reasons, and a thumb on every row."""
from __future__ import annotations

import streamlit as st

from pages.common import data_fingerprint, item_label, items_frame, page_setup, recommender, require_model
from recsys.feedback import Feedback, FeedbackLedger
from recsys.recommend import label_queue

ws = page_setup("Recommendations")
version = require_model(ws)
rec = recommender(str(ws.root), version.name, data_fingerprint(ws))
items = items_frame(str(ws.root), data_fingerprint(ws))
ledger = FeedbackLedger(ws.ledger_path)

mode = st.segmented_control("Mode", ["Browse users", "Label queue"], default="Browse users", key="rec_mode")
users = label_queue(rec, 50) if mode == "Label queue" else rec.users()
if st.session_state["user"] not in users:
    st.session_state["user"] = users[0]
left, right = st.columns([3, 1])
user = left.selectbox("User (type to search)", users, key="user")
k = right.number_input("How many", 1, 50, key="k")
annotator = st.sidebar.text_input("Your name (for the ledger)", key="annotator")


def record_new_thumbs() -> None:
    """Write every thumb whose value changed since the last run to the ledger, before the list is built,
    so a thumbs-down hides the item in this very run. (Reading session_state rather than on_change also
    catches values set programmatically, as the app tests do.)"""
    recorded = st.session_state.setdefault("recorded_thumbs", {})
    shown = st.session_state.setdefault("shown_rows", {})
    for key, value in list(st.session_state.items()):
        if not str(key).startswith("thumb:") or value is None or recorded.get(key) == value:
            continue
        _, user_id, item_id = str(key).split(":", 2)
        rank, score = shown.get(key, (None, None))
        ledger.add(Feedback(user_id, item_id, "up" if value == 1 else "down", version.name, rank, score,
                            annotator or "app"))
        recorded[key] = value


record_new_thumbs()
history = rec.history(user)
st.subheader(f"Recent history ({len(history)} items)")
recent = [rec.item_ids[i] for i in history[-8:][::-1]]
st.dataframe([{"item": item_label(items, i), "category": items.at[i, "category"] if i in items.index else ""}
              for i in recent], hide_index=True, width="stretch")

picks = rec.recommend(user, int(k))
previous = st.session_state["previous_lists"].get(user, {})
st.subheader(f"Top {len(picks)} from model {version.name}")
for r in picks:
    row = st.columns([0.5, 4, 1, 1, 1.3])
    row[0].markdown(f"**{r.rank}**")
    row[1].text(item_label(items, r.item_id))
    row[1].caption("because of: " + "; ".join(item_label(items, b) for b in r.because) if r.because else "")
    row[2].text(f"{r.score:.3f}")
    moved = previous.get(r.item_id)
    row[3].text("new" if previous and moved is None else ("" if moved in (None, r.rank) else
                                                          f"{'up' if moved > r.rank else 'down'} {abs(moved - r.rank)}"))
    with row[4]:
        st.feedback("thumbs", key=f"thumb:{user}:{r.item_id}")
    st.session_state["shown_rows"][f"thumb:{user}:{r.item_id}"] = (r.rank, r.score)
st.session_state["previous_lists"][user] = {r.item_id: r.rank for r in picks}
labels = ledger.current_labels(user)
if not labels.empty:
    st.caption(f"Thumbs for this user: {int((labels.label == 'up').sum())} up, {int((labels.label == 'down').sum())} "
               "down (downs are hidden; ups count as history at once).")
