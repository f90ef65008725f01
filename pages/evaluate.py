"""Evaluate: every round against popularity, ItemKNN, EASE and the untuned encoder, warm and cold."""
from __future__ import annotations

import plotly.express as px
import streamlit as st

from recsys.service import RecTuneError, is_version_name
from ui.common import alert, page_setup

service = page_setup("Evaluate")
versions = service.versions()
table = service.metrics_table()
st.text("Warm: each user's last interaction is held out, ranked against the whole catalog. Cold: 15% of items "
        "are hidden from training and ranked on a 'new arrivals' shelf. Collaborative baselines cannot score "
        "cold items at all.")
if table.empty:
    st.info("No evaluated round yet: train with 'Evaluate the round' on, or evaluate the active model here.")
else:
    metric = st.segmented_control("Metric", ["ndcg", "hr", "mrr", "coverage"], default="ndcg", key="eval_metric") or "ndcg"
    for protocol in ("warm", "cold"):
        part = table[table["protocol"] == protocol]
        st.subheader(f"{protocol.capitalize()} items (K = {int(part['k'].iloc[0]) if len(part) else 10})")
        st.dataframe(part.drop(columns=["protocol"]).style.format(precision=4), hide_index=True, width="stretch")
    is_round = table["model"].map(is_version_name)
    if is_round.any():
        fig = px.line(table[is_round], x="model", y=metric, color="protocol", markers=True,
                      title=f"{metric.upper()}@10 across rounds")
        for _, row in table[~is_round & (table["protocol"] == "warm")].iterrows():
            fig.add_hline(y=row[metric], line_dash="dot", annotation_text=f"{row['model']} (warm)")
        st.plotly_chart(fig, key="rounds_chart")
st.subheader("How each round treats earlier thumbs")
st.dataframe(service.feedback_reports(), hide_index=True, width="stretch")
st.text("Measured on the new model before the serving filter (which always hides thumbs-down items).")
if st.button("Evaluate the active model now", key="evaluate_now", disabled=service.active_version() is None):
    try:
        service.evaluate()
        st.toast("Evaluation runs as a background job: watch it on the Train page.")
    except RecTuneError as exc:
        alert("error", exc)
