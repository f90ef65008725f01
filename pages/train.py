"""Train: settings -> Start; live progress and curves in polling fragments; the rounds; rollback."""
from __future__ import annotations

import json

import altair as alt
import pandas as pd
import streamlit as st

from recsys.events import stage_name
from recsys.reports import round_summary
from recsys.service import BACKENDS, ENCODER_TUNINGS, RecTuneError, TrainConfig, unrated_setting
from ui.common import alert, page_setup
from ui.quick_round import apply_feedback_button

service = page_setup("Train")
# A progress bar's width change is a CSS transition that Chromium repaints frame by frame: measured on the demo
# during a round, the 5 s progress poll cost the browser 2.2 CPU-s per 40 s with it and 1.0 without, taken from the
# two cores that train. A constant style, no data in it.
st.html('<style>[data-testid="stProgress"] * {transition: none !important; animation: none !important}</style>')

D = TrainConfig()  # widget defaults are the library defaults
with st.expander("Training settings", expanded=not service.job().active):
    c1, c2, c3 = st.columns(3)
    dim = c1.select_slider("Tuned space width", [32, 64, 128, 256], D.dim,
                           help="Width of the learned item/user space. 128 was best on MovieLens.")
    max_history = c2.slider("History length", 5, 200, D.max_history, help="How many recent items describe a user.")
    max_seconds = c3.number_input("Time budget (s, 0 = none)", 0, 36_000, int(D.max_seconds or 0), key="max_seconds",
                                  help="Off by default: with a budget the model depends on how busy the machine is. "
                                       "Training otherwise ends when validation stops improving.")
    use_ids = c1.toggle("Learn per-item vectors", D.use_item_ids, help="Learns taste the text does not show (warm items).")
    text_w = c2.number_input("Cold-item text loss weight", 0.0, 5.0, D.text_loss_weight,
                             help="Keeps the text path strong so brand-new items rank well.")
    text_rows = c2.number_input("Cold-item text loss on rows per step (-1 = by catalog size, 0 = all)", -1, 100_000,
                                D.text_loss_rows, key="text_loss_rows",
                                help="A faster round on a catalog above 2,048 items: the text-only loss (it "
                                     "scores every item for its rows) on this many of a step's targets, drawn at "
                                     "random. -1: by the catalog's size, batch x softmax_items / items (460 on "
                                     "ml-latest-small's 9,125 movies: ~28% faster, warm rankings ~0.003 NDCG@10 "
                                     "lower over five seeds, new items level; the same on a 10,000-item synthetic "
                                     "catalog). 0 (the default): every target.")
    fb_w = c3.number_input("Weight of one thumb", 0.0, 20.0, D.feedback_weight, help="Relative to one logged interaction.")
    tuning = c1.selectbox("Also tune the language model", ENCODER_TUNINGS, key="encoder_tuning",
                          help="lora/full: on (history -> next item) text pairs before the first stage; slow on CPU "
                               "(~25 pairs/s) and measured to help little. align: after it, towards the trained item "
                               "vectors, so that brand-new items start where similar items sit; auto: align, kept "
                               "only when it ranks items hidden from a second fit better than the first stage places "
                               "them (about doubles the round). Uses a GPU when one is present.")
    pairs = c2.number_input("Encoder tuning pairs", 8, 100_000, D.encoder_pairs, disabled=tuning == "none")
    guard = c3.number_input("Forgetting guard (lowest similarity Spearman)", -1.0, 1.0, D.min_drift_spearman, 0.05,
                            disabled=tuning == "none", key="min_drift_spearman",
                            help="After tuning, the language model judges the similarity of 48 everyday sentences "
                                 "again; a round whose ranking of those similarities agrees with the base's less "
                                 "than this (Spearman) is kept but not activated.")
    evaluate = c3.toggle("Evaluate the round", True, key="evaluate_round",
                         help="Refits on the warm and cold protocols (takes longer).")
    dropout = c1.slider("History dropout", 0.0, 0.9, D.history_dropout, 0.1,
                        help="Share of history items hidden at each training step: less memorising, better on small "
                             "catalogs and new items.")
    mask_seen = c2.toggle("Leave each reader's own items out of training's softmax", D.mask_seen, key="mask_seen",
                          help="Recommendations never repeat an item the reader already has, so training does not "
                               "count those items as rivals of the next one either. On by default (ml-latest-small, "
                               "five seeds on each of two CPUs: new items +0.002 NDCG@10, known items +0.001 to "
                               "+0.004; rounds a little shorter).")
    average = c3.number_input("Average the weights over (epochs)", 0.0, 10.0, D.average_epochs, 0.5,
                              key="average_epochs",
                              help="Validation and the saved model use a moving average of the weights over about "
                                   "this many epochs of steps; 0: the raw weights of the best check, which also fit "
                                   "that check's noise.")
    kind = c2.selectbox("Model kind", ["auto", "history", "attention"], key="model_kind",
                        help="history: a learned recency-weighted mean of the user's items; attention: self-attention "
                             "over the sequence (SASRec-style). auto trains both and keeps the attention model only "
                             "when it wins on validation users by more than the noise.")
    encoder_model = st.text_input("Language model (the item and user text encoder)", D.encoder_model, key="encoder_model",
                                  help="The packaged MiniLM, a local sentence-transformers or Hugging Face model folder "
                                       "(a GPT-2-family causal LM works too), or a hub id (needs network). End it "
                                       "with #mean or #last for mean or last-token pooling; without a suffix the "
                                       "model's own pooling is used.")
    rerank = c1.selectbox("Re-rank with a fine-tuned cross-encoder", ["off", "auto", "on"], key="rerank",
                          help="A second stage: the language model reads each user's recent titles with each of the "
                               f"first stage's top {D.rerank_top_n} and re-orders them. auto keeps it only when "
                               "held-out users gain more than the noise. Adds minutes to a round on CPU.")
    backend = c2.selectbox("Run the round on", BACKENDS, key="backend",
                           help="local: this machine. ray: item encoding as a Ray Data job and training on Ray Train "
                                "workers (DDP), on the cluster at RAY_ADDRESS, else a local one; needs "
                                "pip install -r requirements-ray.txt. Same model as local for the history model.")
    workers = c3.number_input("Ray workers", 1, 1024, D.ray_workers, key="ray_workers", disabled=backend == "local")
    borrow = c1.selectbox("New items borrow from their text neighbours", ["auto", "off"], key="new_item_neighbours",
                          help="An item no one has touched yet gets, besides its text, what training learned about "
                               "its nearest seen items in text space. auto: as many neighbours as predict seen "
                               "items best (none if none helps); off: its text alone.")
    unrated_text = c1.text_input("Rating that means 'not rated'", "", key="unrated",
                                 help="Blank: read from the data (Book-Crossing's 0, most of its rows, is found). "
                                      "none: every rating is a mark on the scale. Or a value such as 0 or -1: those "
                                      "interactions are positives, and the scale is read without them.")
    try:
        given, bad = unrated_setting(unrated_text, "Rating that means 'not rated'"), None
    except ValueError as exc:
        given, bad = {}, exc
    rule = service.positives_rule(given) if service.ws.has_data() else None  # the threshold depends on it
    min_rating = c3.number_input("Lowest positive rating (0 = every rating)", 0.0, 100.0,
                                 float(rule.min_rating or 0.0) if rule else 0.0, 0.5,
                                 help="Ratings below it are not positives but count as a thumbs-down. Read from "
                                      "the data by default (the lowest 30% of an explicit 1-5 or 1-10 scale). A value "
                                      "that means 'not rated' (Book-Crossing's 0) stays a positive.")
    try:
        if bad is not None:
            raise bad
        positives = given if rule is None or min_rating == (rule.min_rating or 0.0) else \
            {**given, "min_rating": float(min_rating) or None, "event_weights": rule.event_weights}
        if rule is not None:
            st.text(f"Positives this round will use: {service.positives_rule(positives).describe()}")
        config = TrainConfig(dim=dim, max_history=max_history, max_seconds=float(max_seconds) or None,
                             use_item_ids=use_ids, kind=kind, positives=positives,
                             text_loss_weight=text_w, text_loss_rows=int(text_rows), feedback_weight=fb_w,
                             encoder_tuning=tuning,
                             encoder_model=encoder_model.strip() or D.encoder_model,
                             encoder_pairs=int(pairs), history_dropout=float(dropout),
                             average_epochs=float(average), mask_seen=bool(mask_seen),
                             min_drift_spearman=float(guard), rerank=rerank, backend=backend,
                             ray_workers=int(workers), new_item_neighbours=-1 if borrow == "auto" else 0)
    except ValueError as exc:
        config = None
        alert("error", exc)

if config is not None:
    with st.expander("All settings (JSON, saved beside the model)"):
        st.code(json.dumps({**config.to_dict(), "evaluate": evaluate}, indent=1), language="json")
st.text(f"Workspace: {service.ws.name}")
if st.button("Start training", type="primary", disabled=config is None or not service.ws.has_data(), key="start_training"):
    try:
        service.train(config, evaluate)
        st.rerun()  # the page as it is during a job: settings folded, progress and curves polling
    except RecTuneError as exc:
        alert("error", exc)

apply_feedback_button(service, "apply_feedback_train")


JOB = service.job()  # one snapshot for this run: whether to poll fast, and the job state the page shows
ACTIVE = JOB.active
st.session_state["train_job_seen"] = (JOB.job_id, JOB.state)  # the polls rerun the page when this changes


@st.fragment(run_every=5.0 if ACTIVE else 10.0)
def live_status() -> None:
    """The progress line, polled every 5 s while a job runs (10 s otherwise, to notice a colleague's job). Every
    poll runs in the process that trains and the browser redraws what it is sent, so the page polls little:
    the curves every 15 s and only during a job, the rounds table never (it changes when a job ends: then
    this poll reruns the whole page once). Measured on the demo (one round each, +-8% run to run): a round
    from the CLI 136 s; from the app with no page open 136 s; with the Train page open 162 s when it polled
    progress every 2 s and plotly curves and the rounds every 10 s, 151 s with Vega-Lite curves and no rounds
    in the poll, 147 s with progress every 5 s (Chromium then used 7.6 CPU-s over the round, 14.5 at 2 s). Later
    (2026-11-29, a round in a child process, CLI 124 s): Chromium used 7.8 CPU-s over a 134 s app round; 6.5 without
    the progress bar's transition, 6.0 with the curves every 15 s instead of 10 (a 128 s round); with no poll at
    all it uses 1.1 and the round takes 122 s."""
    status = service.job()
    if (status.job_id, status.state) != st.session_state["train_job_seen"]:
        st.session_state["train_job_seen"] = (status.job_id, status.state)
        st.rerun()  # a job started or ended: the curves' polling, the rounds and the settings follow
    if status.state == "idle":
        st.info("No training job yet in this workspace.")
        return
    st.subheader(f"Job {status.job_id}: {status.state}")
    st.progress(status.progress, text=f"{stage_name(status.stage)} · {status.step}/{status.total}")
    eta = f" · about {status.eta_s:.0f} s left" if status.eta_s is not None and status.active else ""
    st.text(f"{status.message}{eta}")
    if status.active and st.button("Cancel", key="cancel_training"):
        service.cancel()
        st.toast("Cancelling: the previous model stays active.")
    if status.state == "failed":
        alert("error", status.message)
    elif status.state in ("cancelled", "interrupted"):
        alert("warning", status.message)


@st.fragment(run_every=15.0 if ACTIVE else None)
def live_curves() -> None:
    """The current (or last) job's curves, redrawn every 15 s while it runs (each redraw costs the browser ~0.2 CPU-s)."""
    status = service.job()
    if status.state != "idle":
        curves(status)


def curves(status) -> None:
    """The training loss and, beside it, validation NDCG@10 on held-out users (one line per model kind); Vega-Lite
    charts, which a browser redraws for a fraction of a plotly chart's cost."""
    if not status.losses and not status.validations:
        return
    left, right = st.columns(2)
    if status.losses:
        loss = pd.DataFrame({"step": range(1, len(status.losses) + 1), "loss": status.losses})
        left.altair_chart(_line(loss, "loss", "Training loss (lower is better)"), key="loss_chart")
    if status.validations:
        val = pd.DataFrame(list(status.validations), columns=["kind", "step", "NDCG@10"])
        val["model"] = val["kind"] + " model"
        right.altair_chart(_line(val, "NDCG@10", "Held-out users: NDCG@10 (higher is better)", "model"),
                           key="validation_chart")


def _line(frame: pd.DataFrame, y: str, title: str, colour: str | None = None) -> alt.Chart:
    chart = alt.Chart(frame, title=title, height=200).mark_line(point=colour is not None)
    encoding = dict(x=alt.X("step:Q", axis=alt.Axis(format="d")),
                    y=alt.Y(f"{y}:Q", scale=alt.Scale(zero=False), axis=alt.Axis(format=".3~f")))
    return chart.encode(**encoding, **({"color": alt.Color(f"{colour}:N")} if colour else {}))


def rounds() -> None:
    st.subheader("Rounds")
    versions = service.versions()
    if not versions:
        return
    newest = versions[-1]
    st.text(round_summary(newest))
    st.dataframe(readable_rounds(service.rounds_table()), hide_index=True, width="stretch")
    if newest.metrics.extra.get("kind_reason"):
        st.text(f"{newest.name} model kind: {newest.metrics.extra['kind_reason']}")
    if newest.metrics.extra.get("rerank"):
        st.text(f"{newest.name} {newest.metrics.extra['rerank']['summary']}")
    if newest.metrics.extra.get("align_summary"):
        st.text(f"{newest.name} {newest.metrics.extra['align_summary']}")
    if newest.metrics.extra.get("positives"):
        st.text(f"{newest.name} positives: {newest.metrics.extra['positives']}")
    if newest.metrics.extra.get("new_items"):
        st.text(f"{newest.name} new items: {newest.metrics.extra['new_items']['summary']}")
    if newest.metrics.extra.get("activation") and not newest.active:
        alert("warning", f"{newest.name}: {newest.metrics.extra['activation']}")
    if newest.metrics.stopped_by == "time budget":
        alert("warning", f"{newest.name}: the time budget cut training short at epoch {newest.metrics.epochs}; "
                         "its quality depends on how busy the machine was.")
    names = [v.name for v in versions]
    active = service.ws.active_name()
    pick = st.selectbox("Active version (rollback)", names, index=names.index(active) if active in names else 0,
                        key="activate_select")
    if pick != active and st.button(f"Activate {pick}", key="activate_button"):
        service.activate(pick)
        st.rerun()


def readable_rounds(table):
    """The rounds table as people read it: the active round marked, no None, whole seconds."""
    out = table.assign(active=table["active"].map({True: "✓ active", False: ""}),
                       seconds=table["seconds"].map(lambda x: "" if x is None or x != x else f"{x:,.0f}"))
    for column in ("validation NDCG@10", "warm NDCG@10", "cold NDCG@10"):
        out[column] = out[column].map(lambda x: "–" if x is None or x != x else f"{x:.4f}")
    return out.fillna("")


live_status()
live_curves()
rounds()
