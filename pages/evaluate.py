"""Evaluate: every round against popularity, ItemKNN, EASE and the untuned encoder, warm and cold."""
from __future__ import annotations

import plotly.express as px
import streamlit as st

from pages.common import page_setup, runner
from recsys.errors import RecTuneError
from recsys.jobs_training import start_evaluation
from recsys.reports import feedback_reports, metrics_table

ws = page_setup("Evaluate")
versions = ws.versions()
table = metrics_table(versions)
st.caption("Warm: each user's last interaction is held out, ranked against the whole catalog. Cold: 15% of items "
           "are hidden from training and ranked on a 'new arrivals' shelf. Collaborative baselines cannot score "
           "cold items at all.")
if table.empty:
    st.info("No evaluated round yet: train with 'Evaluate the round' on, or evaluate the active model here.")
else:
    metric = st.segmented_control("Metric", ["ndcg", "hr", "mrr", "coverage"], default="ndcg", key="eval_metric")
    for protocol in ("warm", "cold"):
        part = table[table["protocol"] == protocol]
        st.subheader(f"{protocol.capitalize()} items (K = {int(part['k'].iloc[0]) if len(part) else 10})")
        st.dataframe(part.drop(columns=["protocol"]).style.format(precision=4), hide_index=True, width="stretch")
    rounds = table[table["model"].str.match(r"^v\d+$")]
    if len(rounds):
        fig = px.line(rounds, x="model", y=metric or "ndcg", color="protocol", markers=True,
                      title=f"{(metric or 'ndcg').upper()}@10 across rounds")
        for _, row in table[~table["model"].str.match(r"^v\d+$") & (table["protocol"] == "warm")].iterrows():
            fig.add_hline(y=row[metric or "ndcg"], line_dash="dot", annotation_text=f"{row['model']} (warm)")
        st.plotly_chart(fig, key="rounds_chart")
st.subheader("How each round treats earlier thumbs")
st.dataframe(feedback_reports(versions), hide_index=True, width="stretch")
st.caption("Measured on the new model before the serving filter (which always hides thumbs-down items).")
if st.button("Evaluate the active model now", key="evaluate_now", disabled=ws.active_version() is None):
    try:
        start_evaluation(ws, runner(str(ws.root)))
        st.toast("Evaluation runs as a background job: watch it on the Train page.")
    except RecTuneError as exc:
        st.error(str(exc))
