"""Train: settings -> config preview -> Start; live progress in a polling fragment; history of rounds."""
from __future__ import annotations

import json
import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pages.common import page_setup, runner
from recsys.errors import RecTuneError
from recsys.jobs_training import start_training
from recsys.training import TrainConfig

ws = page_setup("Train")
job_runner = runner(str(ws.root))

D = TrainConfig()  # widget defaults are the library defaults
with st.expander("Training settings", expanded=not job_runner.status().active):
    c1, c2, c3 = st.columns(3)
    dim = c1.select_slider("Tuned space width", [32, 64, 128, 256], D.dim,
                           help="Width of the learned item/user space. 128 was best on MovieLens.")
    max_history = c2.slider("History length", 5, 200, D.max_history, help="How many recent items describe a user.")
    max_seconds = c3.number_input("Time budget (s)", 10, 3600, int(D.max_seconds),
                                  help="Training stops here, keeping its best epoch.")
    use_ids = c1.toggle("Learn per-item vectors", D.use_item_ids, help="Learns taste the text does not show (warm items).")
    text_w = c2.number_input("Cold-item text loss weight", 0.0, 5.0, D.text_loss_weight,
                             help="Keeps the text path strong so brand-new items rank well.")
    fb_w = c3.number_input("Weight of one thumb", 0.0, 20.0, D.feedback_weight, help="Relative to one logged interaction.")
    tuning = c1.selectbox("Also tune the language model", ["none", "lora", "full"],
                          help="LoRA/full encoder tuning: slow on CPU (~25 pairs/s) and measured to help little; "
                               "uses a GPU when one is present.")
    pairs = c2.number_input("Encoder tuning pairs", 8, 100_000, D.encoder_pairs, disabled=tuning == "none")
    evaluate = c3.toggle("Evaluate the round", True, help="Refits on the warm and cold protocols (takes longer).")
    dropout = c1.slider("History dropout", 0.0, 0.9, D.history_dropout, 0.1,
                        help="Share of history items hidden at each training step: less memorising, better on small "
                             "catalogs and new items.")
    try:
        config = TrainConfig(dim=dim, max_history=max_history, max_seconds=float(max_seconds), use_item_ids=use_ids,
                             text_loss_weight=text_w, feedback_weight=fb_w, encoder_tuning=tuning,
                             encoder_pairs=int(pairs), history_dropout=float(dropout))
        st.code(json.dumps({**config.to_dict(), "evaluate": evaluate}, indent=1), language="json")
    except ValueError as exc:
        config = None
        st.error(str(exc))

if st.button("Start training", type="primary", disabled=config is None or not ws.has_data(), key="start_training"):
    try:
        start_training(ws, job_runner, config, evaluate)
        st.toast("Training started: other pages stay usable.")
    except RecTuneError as exc:
        st.error(str(exc))


@st.fragment(run_every=1.0)
def live_status() -> None:
    status = job_runner.status()
    if status.state == "idle":
        st.info("No training job yet in this workspace.")
        return
    st.subheader(f"Job {status.job_id}: {status.state}")
    st.progress(status.progress, text=f"{status.stage} {status.step}/{status.total}")
    eta = f" · ETA {status.eta_s:.0f} s" if status.eta_s is not None and status.active else ""
    st.caption(f"{status.message}{eta}")
    if status.losses:
        fig = go.Figure(go.Scatter(y=list(status.losses), mode="lines", name="loss"))
        fig.update_layout(height=220, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="step", yaxis_title="loss")
        st.plotly_chart(fig, key="loss_chart")
    if status.active and st.button("Cancel", key="cancel_training"):
        job_runner.cancel()
        st.toast("Cancelling: the previous model stays active.")
    if status.state == "failed":
        st.error(status.message)
    elif status.state in ("cancelled", "interrupted"):
        st.warning(status.message)
    elif status.state == "done" and status.finished and time.time() - status.finished < 3:
        st.rerun()  # refresh the rounds table and sidebar once


live_status()

st.subheader("Rounds")
versions = ws.versions()
if versions:
    rows = [{"version": v.name, "active": v.active, "kind": v.kind,
             "validation NDCG@10": v.metrics.get("validation_ndcg@10"),
             "warm NDCG@10": v.metrics.get("evaluation", {}).get("warm", {}).get("tuned", {}).get("ndcg"),
             "cold NDCG@10": v.metrics.get("evaluation", {}).get("cold", {}).get("tuned", {}).get("ndcg"),
             "thumbs seen": v.metrics.get("feedback_seen"), "seconds": v.metrics.get("seconds"),
             "created": pd.Timestamp(v.created, unit="s").strftime("%Y-%m-%d %H:%M")} for v in versions]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    names = [v.name for v in versions]
    active = ws.active_name()
    pick = st.selectbox("Active version (rollback)", names, index=names.index(active) if active in names else 0,
                        key="activate_select")
    if pick != active and st.button(f"Activate {pick}", key="activate_button"):
        ws.activate(pick)
        st.rerun()
