"""Feedback ledger: every thumb with its item's title, filterable, counts per round and annotator, a CSV."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from recsys.service import to_safe_csv
from ui.common import page_setup

service = page_setup("Feedback ledger")
frame = service.ledger_table()
st.metric("Thumbs recorded", len(frame))
if frame.empty:
    st.info("No thumbs yet: give some on the Recommend page (or `python -m recsys feedback ...`).")
    st.stop()
c1, c2, c3, c4 = st.columns(4)
label = c1.multiselect("Label", ["up", "down", "cleared"], default=["up", "down", "cleared"], key="fb_label")
annotators = sorted(frame["annotator"].unique())
who = c2.multiselect("Annotator", annotators, default=annotators, key="fb_annotator")
rounds = sorted(frame["model_version"].fillna("?").unique())
versions = c3.multiselect("Shown by model", rounds, default=rounds, key="fb_version")
user = c4.text_input("User id contains", key="fb_user")
shown = frame[frame["label"].isin(label) & frame["annotator"].isin(who) & frame["model_version"].fillna("?").isin(versions)]
if user:
    shown = shown[shown["user_id"].str.contains(user, regex=False)]
shown = shown.assign(created=pd.to_datetime(shown["created"], unit="s").dt.strftime("%Y-%m-%d %H:%M:%S"))
st.dataframe(shown, hide_index=True, width="stretch")
st.download_button("Download CSV", to_safe_csv(shown), "feedback.csv", "text/csv", key="fb_csv")
by_round, by_annotator = service.feedback_counts()
left, right = st.columns(2)
left.subheader("Per model version")
left.dataframe(by_round, width="stretch")
right.subheader("Per annotator")
right.dataframe(by_annotator, width="stretch")
