"""Recommend: a user's top-k with scores and reasons, a thumb on every row, their recent history."""
from __future__ import annotations

import hashlib

import streamlit as st

from ui.common import catalog, item_label, page_setup, require_model
from ui.quick_round import apply_feedback_button

service = page_setup("Recommendations")
version = require_model(service)
rec = service.recommender(version.name)
items = catalog(service)
ledger = service.ledger()

mode = st.segmented_control("Mode", ["Browse users", "Label queue"], default="Browse users", key="rec_mode")
if mode == "Label queue":
    # The queue is computed once and kept: a labeller stays on a user until they press "Next user".
    queue = st.session_state.setdefault("queue", service.label_queue(50))
    if st.session_state["queue_user"] not in queue:
        st.session_state["queue_user"] = queue[0]
    position = queue.index(st.session_state["queue_user"])
    if st.button("Next user", key="next_user") and position + 1 < len(queue):
        st.session_state["queue_user"] = queue[position + 1]
        st.rerun()
    user = st.session_state["queue_user"]
    st.text(f"User {position + 1} of {len(queue)} in the queue: {user}")
else:
    users = rec.users()
    if st.session_state["user"] not in users:
        st.session_state["user"] = users[0]
    user = st.selectbox("User (type to search)", users, index=users.index(st.session_state["user"]))
    st.session_state["user"] = user
k = st.number_input("How many", 1, 50, key="k")
annotator = st.sidebar.text_input("Your name (for the ledger)", key="annotator")
VALUE_TO_LABEL = {1: "up", 0: "down", None: "cleared"}


def record_new_thumbs() -> None:
    """Write every thumb whose value changed since the last run to the ledger, before the list is built,
    so a thumbs-down hides the item in this very run; a thumb set back to nothing is recorded as 'cleared'.
    Keys map to (user, item) through session state: ids may contain any character."""
    recorded, shown = st.session_state["recorded_thumbs"], st.session_state["shown_rows"]
    for key, (user_id, item_id) in st.session_state["thumb_keys"].items():
        value = st.session_state.get(key)
        if key not in st.session_state or recorded.get(key, "unset") == value:
            continue
        if value is None and key not in recorded:
            continue
        rank, score = shown.get(key, (None, None))
        service.record_thumb(user_id, item_id, VALUE_TO_LABEL[value], annotator or "app", rank, score, version.name)
        recorded[key] = value


def thumb_key(user_id: str, item_id: str, labels: dict) -> str:
    """A stable widget key for (user, item), preset to the thumb the ledger already holds."""
    key = "thumb-" + hashlib.sha1(f"{user_id}\0{item_id}".encode()).hexdigest()[:16]
    st.session_state["thumb_keys"][key] = (user_id, item_id)
    if key not in st.session_state and item_id in labels:
        st.session_state[key] = 1 if labels[item_id] == "up" else 0
        st.session_state["recorded_thumbs"][key] = st.session_state[key]
    return key


record_new_thumbs()
picks = rec.recommend(user, int(k))
current = ledger.current_labels(user)
labels = dict(zip(current["item_id"].astype(str), current["label"]))
previous = st.session_state["previous_lists"].get(user, {})
st.subheader(f"Top {len(picks)} from model {version.name}")
for r in picks:
    row = st.columns([0.4, 4, 0.8, 0.8, 1.2])
    row[0].text(str(r.rank))
    row[1].text(item_label(items, r.item_id))
    if r.because:
        row[1].text("because of: " + "; ".join(item_label(items, b) for b in r.because))
    row[2].text(f"{r.score:.3f}")
    moved = previous.get(r.item_id)
    row[3].text("new" if previous and moved is None else ("" if moved in (None, r.rank) else
                                                          f"{'up' if moved > r.rank else 'down'} {abs(moved - r.rank)}"))
    key = thumb_key(user, r.item_id, labels)
    with row[4]:
        st.feedback("thumbs", key=key)
    st.session_state["shown_rows"][key] = (r.rank, r.score)
st.session_state["previous_lists"][user] = {r.item_id: r.rank for r in picks}
apply_feedback_button(service, "apply_feedback")
if not current.empty:
    st.text(f"Thumbs for this user: {int((current.label == 'up').sum())} up, {int((current.label == 'down').sum())} "
            "down (downs are hidden; ups count as history at once and are not recommended again).")

history = rec.history(user)
st.subheader(f"Recent history ({len(history)} items)")
recent = [rec.item_ids[i] for i in history[-8:][::-1]]
st.dataframe([{"item": item_label(items, i), "category": items.at[i, "category"] if i in items.index else ""}
              for i in recent], hide_index=True, width="stretch")
