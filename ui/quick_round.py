"""The "Apply feedback now" control (Recommend and Train pages): a quick round, then how each thumb moved."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from recsys.service import RecTuneError, Service
from ui.common import alert, catalog, item_label


def apply_feedback_button(service: Service, key: str) -> None:
    """The button; the newest quick round's report stays shown below it until the next round."""
    if st.button("Apply feedback now", key=key, disabled=service.job().active,
                 help="A new version in seconds: the active model adjusted to every thumb so far. A full round "
                      "(Train page) learns from the whole log again."):
        with st.spinner("Applying the thumbs..."):
            try:
                status = service.quick_round(background=False)
            except RecTuneError as exc:
                alert("error", exc)
                return
        if status.state != "done":
            alert("warning", status.message)
            return
        st.session_state["quick_version"] = status.version
        st.rerun()  # the whole page: a list drawn in a fragment would otherwise stay on the previous version
    _last_report(service)


def _last_report(service: Service) -> None:
    name = st.session_state.get("quick_version")
    if not name or name not in [v.name for v in service.versions()]:
        return
    version = service.ws.version(name)
    quick = version.metrics.extra.get("quick") or {}
    alert("success", f"{name} is active, made in {version.metrics.seconds:.1f} s: {quick.get('summary', '')}.")
    st.dataframe(moves_frame(quick.get("moves", []), catalog(service)), hide_index=True, width="stretch")


def moves_frame(moves: list[dict], items: pd.DataFrame) -> pd.DataFrame:
    """One row per new thumb: user, item title, thumb, rank before -> after (for that user)."""
    return pd.DataFrame([{"user": m["user_id"], "item": item_label(items, m["item_id"]),
                          "thumb": "👍" if m["label"] == "up" else "👎", "rank before": m["rank_before"],
                          "rank after": m["rank_after"]} for m in moves],
                        columns=["user", "item", "thumb", "rank before", "rank after"])
