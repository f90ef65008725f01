"""Evaluate: every round against popularity, ItemKNN, EASE and the untuned encoder, warm and cold."""
from __future__ import annotations

import plotly.express as px
import streamlit as st

from recsys.service import RecTuneError, is_version_name
from ui.common import alert, page_setup

service = page_setup("Evaluate")
versions = service.versions()
active = service.ws.active_name()
METRIC_HELP = {
    "hr": st.column_config.NumberColumn("hit rate", format="%.4f", help="Share of test users whose held-out item is in "
                                        "the model's top K (0.15: found for 15% of users)."),
    "ndcg": st.column_config.NumberColumn("NDCG", format="%.4f", help="Like the hit rate, but a hit counts more the "
                                          "higher it ranks: 1 at rank 1, 0.63 at rank 2, 0.5 at rank 3 ... 0 outside "
                                          "the top K."),
    "mrr": st.column_config.NumberColumn("MRR", format="%.4f", help="Mean of 1 / rank of the held-out item (0 outside the "
                                         "top K): how near the top the right item sits."),
    "coverage": st.column_config.NumberColumn("coverage", format="%.4f", help="Share of the catalog (cold: of the new-"
                                              "arrivals shelf) that appears in at least one user's top K."),
    "k": st.column_config.NumberColumn("K", help="How many items each list holds.")}
table = service.metrics_table()


def mark_active(model: str) -> str:
    return f"{model} ✓ active" if model == active else model


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
        shown = part.drop(columns=["protocol"]).assign(model=part["model"].map(mark_active))
        st.dataframe(shown, hide_index=True, width="stretch", column_config=METRIC_HELP)
    is_round = table["model"].map(is_version_name)
    if is_round.any():
        fig = px.line(table[is_round], x="model", y=metric, color="protocol", markers=True,
                      title=f"{metric.upper()}@10 across rounds")
        for _, row in table[~is_round & (table["protocol"] == "warm")].iterrows():
            fig.add_hline(y=row[metric], line_dash="dot", annotation_text=f"{row['model']} (warm)")
        st.plotly_chart(fig, key="rounds_chart")
st.subheader("How each round treats earlier thumbs")
feedback = service.feedback_reports()
for column in ("ups in top 10", "downs kept out"):
    feedback[column] = feedback[column].map(lambda x: "–" if x is None or x != x else f"{x:.0%}")
st.dataframe(feedback.assign(model=feedback["model"].map(mark_active)),
             hide_index=True, width="stretch",
             column_config={"ups in top 10": st.column_config.TextColumn(help="Share of thumbed-up items the round "
                                                                           "ranks in that user's top 10."),
                            "downs kept out": st.column_config.TextColumn(help="Share of thumbed-down items the round "
                                                                            "keeps out of that user's top 10.")})
st.text("Measured on the new model before the serving filter (which always hides thumbs-down items).")
if st.button("Evaluate the active model now", key="evaluate_now", disabled=service.active_version() is None):
    try:
        service.evaluate()
        st.toast("Evaluation runs as a background job: watch it on the Train page.")
    except RecTuneError as exc:
        alert("error", exc)
