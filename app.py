"""RecTune dashboard: the router. Run with `streamlit run app.py`."""
from __future__ import annotations

import streamlit as st

from ui.common import PAGES, password_ok

st.set_page_config(page_title="RecTune", page_icon=":material/recommend:", layout="wide")


def login() -> None:
    """While logged out this is the only page: password_ok() above drew the form."""


# st.navigation runs on every run, logged in or not; while logged out only the login page is reachable.
pages = [st.Page(path, title=title, icon=icon, default=i == 0) for i, (path, title, icon) in enumerate(PAGES)]
st.navigation(pages if password_ok() else [st.Page(login, title="Log in")]).run()
