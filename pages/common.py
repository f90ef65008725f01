"""What every page shares: session state (initialised here only), the workspace in use, cached resources,
and the sidebar. Pages stay thin: widgets -> typed config -> a call into recsys."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from recsys.bootstrap import ROOT, ensure_demo_workspace
from recsys.errors import RecTuneError
from recsys.jobs import JobRunner, runner_for
from recsys.workspace import Workspace, list_workspaces, workspace_path

HOME = Path(os.environ.get("RECTUNE_HOME", ROOT / "workspaces"))


def init_state() -> None:
    defaults = {"workspace": "demo", "user": None, "k": 10, "annotator": "", "previous_lists": {}}
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


@st.cache_resource(show_spinner="Preparing the demo workspace (first start only)...")
def demo_workspace_ready(home: str) -> str:
    return str(ensure_demo_workspace(Path(home)).root)


def workspace() -> Workspace:
    init_state()
    demo_workspace_ready(str(HOME))
    return Workspace(workspace_path(HOME, st.session_state["workspace"]))


@st.cache_resource
def runner(root: str) -> JobRunner:
    return runner_for(root)


@st.cache_data(max_entries=8, show_spinner=False)
def items_frame(root: str, fingerprint: str) -> pd.DataFrame:
    """The catalog, indexed by item id; keyed by the data fingerprint so an import refreshes it."""
    return Workspace(root).load_dataset().items.set_index("item_id")


@st.cache_resource(max_entries=8, show_spinner="Loading the model...")
def recommender(root: str, version: str, fingerprint: str):
    from recsys.recommend import Recommender
    return Recommender.from_workspace(Workspace(root), version)


def data_fingerprint(ws: Workspace) -> str:
    path = ws.data_dir / "interactions.parquet"
    return f"{path.stat().st_mtime_ns}" if path.exists() else "none"


def sidebar(ws: Workspace) -> None:
    with st.sidebar:
        names = list_workspaces(HOME) or ["demo"]
        if st.session_state["workspace"] not in names:
            st.session_state["workspace"] = names[0]
        st.selectbox("Workspace", names, key="workspace")
        with st.popover("New workspace"):
            new = st.text_input("Name (letters, digits, - _ .)", key="new_workspace_name")
            if st.button("Create", key="create_workspace") and new:
                try:
                    Workspace(workspace_path(HOME, new))
                    st.session_state["workspace"] = new
                    st.rerun()
                except RecTuneError as exc:
                    st.error(str(exc))
        report = ws.report()
        if report is None:
            st.info("No data yet: import some on the Data page.")
        else:
            st.caption(f"{report.users:,} users · {report.items:,} items · {report.interactions:,} interactions")
        active = ws.active_version()
        st.caption(f"Active model: {active.name} ({active.kind})" if active else "No model yet")
        job = runner(str(ws.root)).status()
        if job.active:
            st.caption(f"Training: {job.stage} {job.progress:.0%}")


def page_setup(title: str) -> Workspace:
    ws = workspace()
    sidebar(ws)
    st.title(title)
    return ws


def require_model(ws: Workspace):
    version = ws.active_version()
    if version is None or not ws.has_data():
        st.info("No model yet: import data on the Data page, then train on the Train page.")
        st.stop()
    return version


def item_label(items: pd.DataFrame, item_id: str) -> str:
    return str(items.at[item_id, "title"]) if item_id in items.index else str(item_id)
