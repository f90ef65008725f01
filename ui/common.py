"""What every page shares: the password gate, session state (initialised here only), the service of the
chosen workspace, the sidebar with page links, and text-only rendering helpers. Pages stay thin:
widgets -> typed config -> a service call -> display."""
from __future__ import annotations

import hmac
import html
import os
import re
from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from recsys.errors import RecTuneError
from recsys.service import ROOT, Service, open_demo, remove_workspace, rename_workspace, reset_demo
from recsys.user_search import MATCHES_SHOWN, find_users
from recsys.workspace import list_workspaces, workspace_path

HOME = Path(os.environ.get("RECTUNE_HOME", ROOT / "workspaces"))
DEMO = os.environ.get("RECTUNE_DEMO", "1") != "0"  # 0: serve only the workspaces already in HOME
PAGES = [("pages/overview.py", "Overview", ":material/home:"),
         ("pages/recommend.py", "Recommend", ":material/thumb_up:"),
         ("pages/compare.py", "Compare", ":material/compare_arrows:"),
         ("pages/train.py", "Train", ":material/model_training:"),
         ("pages/explore.py", "Explore", ":material/scatter_plot:"),
         ("pages/evaluate.py", "Evaluate", ":material/leaderboard:"),
         ("pages/feedback.py", "Feedback", ":material/fact_check:"),
         ("pages/data.py", "Data", ":material/upload_file:")]
DEFAULTS = {"workspace": "demo", "user": None, "k": 10, "annotator": "", "previous_lists": {}, "recorded_thumbs": {},
            "shown_rows": {}, "thumb_keys": {}, "queue_user": None, "session_thumbs": {}, "skipped_users": {}}


def init_state() -> None:
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value.copy() if isinstance(value, dict) else value)


def expected_password() -> str | None:
    try:
        value = st.secrets.get("password")
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):
        return None
    return str(value) if value else None


def _check_password() -> None:
    """on_change of the password box: callbacks run before the next script run, so the check holds even when
    that run is of another page context (a fresh server serves the first request from the pages/ folder)."""
    given = st.session_state.get("password_input") or ""
    expected = expected_password() or ""
    st.session_state["authenticated"] = bool(given) and hmac.compare_digest(given, expected)
    st.session_state["password_wrong"] = bool(given) and not st.session_state["authenticated"]


def password_ok() -> bool:
    """With `password` in .streamlit/secrets.toml every session must enter it first, on every page URL."""
    if not expected_password() or st.session_state.get("authenticated"):
        return True
    st.title("RecTune")
    st.text_input("Password", type="password", key="password_input", on_change=_check_password)
    if st.session_state.get("password_wrong"):
        st.error("Wrong password.")
    return False


@st.cache_resource(show_spinner="Preparing the demo workspace (first start only)...")
def demo_ready(home: str) -> str:
    return str(open_demo(Path(home)).ws.root)


@st.cache_resource(show_spinner="Opening the workspace (its catalog, active model and default map)...")
def service_for(root: str) -> Service:
    """One Service per workspace for every session (thread-safe; it caches loaded models per version), with what
    the pages read first loaded once, here (Service.warm_up). Not in a worker thread: Python 3.11 raised
    "SystemError: AST constructor recursion depth mismatch" in a page's script run while a warm-up ran beside it."""
    service = Service(root)
    service.warm_up()
    return service


def current_service() -> Service:
    """The chosen workspace's service; a home that cannot be used is one error line, not a traceback."""
    init_state()
    try:
        if DEMO:
            demo_ready(str(HOME))
        names = list_workspaces(HOME)
        if names and st.session_state["workspace"] not in names:
            st.session_state["workspace"] = names[0]
        return service_for(str(workspace_path(HOME, st.session_state["workspace"])))
    except (RecTuneError, OSError) as exc:
        alert("error", f"RecTune cannot use its workspace folder {HOME}: {exc}. Set RECTUNE_HOME to a writable folder.")
        st.stop()


def sidebar(service: Service) -> None:
    with st.sidebar:
        _page_links()
        st.divider()
        names = list_workspaces(HOME) or ["demo"]
        current = st.session_state["workspace"] if st.session_state["workspace"] in names else names[0]
        # The widget has its own key: its value is copied into "workspace", which survives page switches.
        choice = st.selectbox("Workspace", names, index=names.index(current))
        if choice != st.session_state["workspace"]:  # this run already read the old one: start again
            st.session_state["workspace"] = choice
            forget_workspace_state()
            st.rerun()
        _new_workspace()
        _manage_workspace(st.session_state["workspace"])
        _data_summary(service)


def _page_links() -> None:
    page_links([(path, title, icon) for path, title, icon in PAGES])


def page_links(links: list[tuple[str, str, str]], where=None) -> None:
    """Links to pages (path, label, icon), in `where`'s columns or the current container."""
    try:
        for i, (path, title, icon) in enumerate(links):
            (where[i] if where else st).page_link(path, label=title, icon=icon)
    except StreamlitPageNotFoundError:  # a page script run on its own, outside any navigation: nothing to link
        pass


def _new_workspace() -> None:
    with st.popover("New workspace"):
        new = st.text_input("Name (letters, digits, - _ .)", key="new_workspace_name")
        if st.button("Create", key="create_workspace") and new:
            try:
                Service(workspace_path(HOME, new))
            except RecTuneError as exc:
                alert("error", exc)
                return
            st.session_state["workspace"] = new
            st.rerun()


def _manage_workspace(name: str) -> None:
    """Rename, delete, or (the demo) reset the chosen workspace, each behind a confirmation."""
    with st.popover("Manage workspace"):
        new = st.text_input("New name", key="rename_workspace_name")
        if st.button("Rename", key="rename_workspace", disabled=not new):
            _workspace_change(lambda: rename_workspace(HOME, name, new), new)
        sure = st.checkbox(f"Yes, delete '{name}' with its data, models and thumbs", key="confirm_delete")
        if st.button("Delete workspace", key="delete_workspace", disabled=not sure):
            _workspace_change(lambda: remove_workspace(HOME, name), "demo")
        if DEMO and name == "demo":
            again = st.checkbox("Yes, reset the demo (its rounds and thumbs are lost)", key="confirm_reset")
            if st.button("Reset demo", key="reset_demo", disabled=not again):
                _workspace_change(lambda: reset_demo(HOME), "demo")


def _workspace_change(change, select: str) -> None:
    try:
        with st.spinner("Working..."):
            change()
    except RecTuneError as exc:
        alert("error", exc)
        return
    service_for.clear()  # cached services of renamed or deleted folders must not be reused
    demo_ready.clear()
    st.session_state["workspace"] = select
    forget_workspace_state()
    for key in ("confirm_delete", "confirm_reset", "rename_workspace_name"):
        st.session_state.pop(key, None)
    st.rerun()


def forget_workspace_state() -> None:
    """Thumb widgets, lists and the label queue belong to one workspace's data: drop them when it changes."""
    for key in st.session_state["thumb_keys"]:
        st.session_state.pop(key, None)
    for key in ("thumb_keys", "recorded_thumbs", "shown_rows", "previous_lists", "session_thumbs", "skipped_users"):
        st.session_state[key] = {}
    st.session_state.pop("queue", None)
    st.session_state["queue_user"] = None


def _data_summary(service: Service) -> None:
    report = service.ws.report()
    if report is None:
        st.info("No data yet: import some on the Data page.")
    else:
        st.text(f"{report.users:,} users · {report.items:,} items\n{report.interactions:,} interactions")
    active = service.active_version()
    st.text(f"Active model: {active.name} ({active.kind})" if active else "No model yet")
    job = service.job()
    if job.active:
        st.text("A training job is running: the Train page follows it live.")  # a snapshot here would go stale


def page_setup(title: str) -> Service:
    """The first call of every page: the gate (it holds even when a page URL is opened first on a fresh
    server), then the workspace's service and the sidebar."""
    if not password_ok():
        st.stop()
    service = current_service()
    sidebar(service)
    st.title(title)
    return service


def require_model(service: Service):
    version = service.active_version()
    if version is None or not service.ws.has_data():
        st.info("No model yet: import data on the Data page, then train on the Train page.")
        st.stop()
    return version


def catalog(service: Service) -> pd.DataFrame:
    """The catalog indexed by item id, the Service's one copy per data set (read only: st.cache_data would
    copy 250,000 items on every call)."""
    return service.items()


def version_label(version) -> str:
    """'v0004 · attention · active' for pickers (version names and kinds are ours, not uploaded text)."""
    return " · ".join([version.name, version.label] + (["active"] if version.active else []))


PICKER_OPTIONS = 1000  # above this many users the picker searches instead of listing everyone


def pick_user(users: list[str], key: str = "user", label: str = "User") -> str:
    """The user picker every page shares; the choice survives page switches. Up to PICKER_OPTIONS users, one
    select box (type to filter); above, a search box (an id or its start) feeding a short list of matches."""
    if st.session_state.get(key) not in users:
        st.session_state[key] = users[0]
    current = st.session_state[key]
    if len(users) <= PICKER_OPTIONS:
        choice = st.selectbox(f"{label} (type to search)", users, index=users.index(current), key=f"{key}_picker")
    else:
        c1, c2 = st.columns([1, 2])
        query = c1.text_input(f"Find a user among {len(users):,}", key=f"{key}_query", placeholder="id or its start")
        matches = find_users(users, query, MATCHES_SHOWN)
        if not matches:
            c2.caption(f"No user id contains '{query}'.")
        options = matches if current in matches else [current, *matches]  # typing does not switch the user
        choice = c2.selectbox(f"{label} ({len(matches)} match{'es' if len(matches) != 1 else ''} shown)", options,
                              index=options.index(current) if current in options else 0)
    st.session_state[key] = choice
    return choice


def how_many(where, widget_key: str) -> int:
    """The list length every page shares. Streamlit drops a widget's state when another page runs, so the
    value lives under "k" and each page's widget has its own key."""
    value = where.number_input("How many", 1, 50, value=int(st.session_state["k"]), key=widget_key)
    st.session_state["k"] = int(value)
    return int(value)


def item_label(items: pd.DataFrame, item_id: str) -> str:
    return str(items.at[item_id, "title"]) if item_id in items.index else str(item_id)


def plain(value: object) -> str:
    """Text for plotly labels, legends and hovers, which would otherwise render <a>, <b>, <img> from data."""
    return html.escape(str(value), quote=False)


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$&:])")


def literal(text: object) -> str:
    """Markdown-escaped text for the boxes that render markdown (st.error, st.warning...): messages can quote
    file names, column names or ids from the data, and `![x](http://...)` there must stay text."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def alert(kind: str, message: object) -> None:
    """st.error / st.warning / st.info / st.success with the message shown literally."""
    getattr(st, kind)(literal(message))
