"""A user's recommendation list with a thumb on every row (both Recommend modes), and the focused labelling
mode: the annotator named once, one user at a time from a queue, next / skip (keyboard N / S), progress, and
colleagues' thumbs on the rows. The list runs in a fragment: a thumb reruns the list, not the page."""
from __future__ import annotations

import hashlib

import streamlit as st

from recsys.service import Service
from ui.common import catalog, item_label
from ui.quick_round import apply_feedback_button

VALUE_TO_LABEL = {1: "up", 0: "down", None: "cleared"}
ICONS = {"up": "👍", "down": "👎"}


def record_new_thumbs(service: Service, version: str) -> None:
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
        service.record_thumb(user_id, item_id, VALUE_TO_LABEL[value], st.session_state["annotator"], rank, score,
                             version)
        recorded[key] = value
        st.session_state["session_thumbs"][user_id] = st.session_state["session_thumbs"].get(user_id, 0) + 1


def thumb_key(user_id: str, item_id: str, labels: dict) -> str:
    """A stable widget key for (user, item), preset to the thumb the ledger already holds."""
    key = "thumb-" + hashlib.sha1(f"{user_id}\0{item_id}".encode()).hexdigest()[:16]
    st.session_state["thumb_keys"][key] = (user_id, item_id)
    if key not in st.session_state and item_id in labels:
        st.session_state[key] = 1 if labels[item_id] == "up" else 0
        st.session_state["recorded_thumbs"][key] = st.session_state[key]
    return key


def colleagues(service: Service, user: str) -> dict[str, str]:
    """item id -> 'bob 👎, cy 👍': what other annotators said about this user's items."""
    me = st.session_state["annotator"]
    judged = service.ledger().by_annotator(user)
    judged = judged[judged["annotator"] != me]
    out: dict[str, list[str]] = {}
    for item, who, label in judged.itertuples(index=False):
        out.setdefault(str(item), []).append(f"{who or '(unnamed)'} {ICONS[label]}")
    return {item: ", ".join(names) for item, names in out.items()}


def recommendation_list(service: Service, version: str, user: str, k: int, as_served: bool = True) -> None:
    """The top k with rank, title, reasons, score, movement since the last view, colleagues' thumbs, a thumb.
    as_served: thumbs act on the list (downs hidden, ups join the history); else the model's own list, where
    every judged row stays in place with its thumbs. Call record_new_thumbs first, in the same run."""
    rec, items = service.recommender(version), catalog(service)
    picks = rec.recommend(user, k, use_feedback=as_served)
    current = service.ledger().current_labels(user)
    labels = dict(zip(current["item_id"].astype(str), current["label"]))
    previous, others = st.session_state["previous_lists"].get(user, {}), colleagues(service, user)
    st.subheader(f"Top {len(picks)} from model {version}")
    if rec.reranker is not None:
        st.caption(f"Re-ranked: the first stage's top {rec.reranker.fusion.top_n} re-scored by the fine-tuned "
                   f"re-ranker; the score fuses both (weight {rec.reranker.fusion.weight:.1f} on the re-ranker).")
    for r in picks:
        row = st.columns([0.4, 4, 0.8, 0.8, 1.2])
        row[0].text(str(r.rank))
        row[1].text(item_label(items, r.item_id))
        if r.because:
            row[1].text("because of: " + "; ".join(item_label(items, b) for b in r.because))
        if r.item_id in others:
            row[1].text("colleagues: " + others[r.item_id])
        row[2].text(f"{r.score:.3f}" if r.rerank_score is None else
                    f"{r.score:.2f}\nfirst {r.first_score:.2f}\nre-rank {r.rerank_score:.2f}")
        row[3].text(_moved(previous, r))
        key = thumb_key(user, r.item_id, labels)
        with row[4]:
            st.feedback("thumbs", key=key)
        st.session_state["shown_rows"][key] = (r.rank, r.score)
    st.session_state["previous_lists"][user] = {r.item_id: r.rank for r in picks}
    if not current.empty and as_served:
        st.text(f"Thumbs for this user: {int((current.label == 'up').sum())} up, {int((current.label == 'down').sum())}"
                " down (downs are hidden; ups count as history at once and are not recommended again).")


def _moved(previous: dict[str, int], r) -> str:
    before = previous.get(r.item_id)
    if previous and before is None:
        return "new"
    if before in (None, r.rank):
        return ""
    return f"{'up' if before > r.rank else 'down'} {abs(before - r.rank)}"


def history(service: Service, version: str, user: str) -> None:
    rec, items = service.recommender(version), catalog(service)
    seen = rec.history(user)
    st.subheader(f"Recent history ({len(seen)} items)")
    recent = [rec.item_ids[i] for i in seen[-8:][::-1]]
    st.dataframe([{"item": item_label(items, i), "category": items.at[i, "category"] if i in items.index else ""}
                  for i in recent], hide_index=True, width="stretch")


def ask_annotator() -> bool:
    """The annotator's name, asked once up front; False while none is given."""
    if st.session_state["annotator"]:
        c1, c2 = st.columns([4, 1])
        c1.text(f"Labelling as {st.session_state['annotator']}")
        if c2.button("Change name", key="change_annotator"):
            st.session_state["annotator"] = ""
            st.rerun()
        return True
    name = st.text_input("Your name (shown to colleagues beside your thumbs)", key="annotator_input")
    if st.button("Start labelling", key="start_labelling", type="primary", disabled=not name.strip()):
        st.session_state["annotator"] = name.strip()
        st.rerun()
    return False


@st.fragment
def label_mode(service: Service, version: str, k: int) -> None:
    """One user at a time from the queue (kept for the session: a labeller stays on a user until next/skip)."""
    record_new_thumbs(service, version)
    queue = st.session_state.setdefault("queue", service.label_queue(50))
    if st.session_state["queue_user"] not in queue:
        st.session_state["queue_user"] = queue[0]
    c1, c2, c3 = st.columns([1, 1, 3])
    c1.button("Next user", key="next_user", shortcut="N", type="primary", on_click=_advance, args=(queue, False))
    c2.button("Skip", key="skip_user", shortcut="S", on_click=_advance, args=(queue, True))
    position = queue.index(st.session_state["queue_user"])
    user = st.session_state["queue_user"]
    c3.text(progress(service, queue, position))
    st.text(f"User {user}")
    st.caption("The model's own list for this user: judged rows stay in place with everyone's thumbs (Browse "
               "shows the list as served, where a thumbs-down hides the item at once).")
    recommendation_list(service, version, user, k, as_served=False)
    apply_feedback_button(service, "apply_feedback")
    history(service, version, user)


def _advance(queue: list[str], skip: bool) -> None:
    """on_click of next / skip: callbacks run before the rerun, so the list below shows the new user."""
    position = queue.index(st.session_state["queue_user"])
    if skip:
        st.session_state["skipped_users"][queue[position]] = True
    if position + 1 < len(queue):
        st.session_state["queue_user"] = queue[position + 1]


def progress(service: Service, queue: list[str], position: int) -> str:
    done = st.session_state["session_thumbs"]
    thumbs, users = service.ledger().annotator_progress(st.session_state["annotator"])
    return (f"User {position + 1} of {len(queue)} in the queue · this session: {len(done)} users labelled "
            f"({sum(done.values())} thumbs), {len(st.session_state['skipped_users'])} skipped · "
            f"{st.session_state['annotator']} in all: {thumbs} thumbs on {users} users")


@st.fragment
def browse_mode(service: Service, version: str, user: str, k: int) -> None:
    record_new_thumbs(service, version)
    recommendation_list(service, version, user, k)
    apply_feedback_button(service, "apply_feedback")
    history(service, version, user)
