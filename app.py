"""RecTune dashboard: the router. Run with `streamlit run app.py`."""
from __future__ import annotations

import hmac

import streamlit as st

st.set_page_config(page_title="RecTune", page_icon=":material/recommend:", layout="wide")


def password_ok() -> bool:
    """With `password` set in .streamlit/secrets.toml, every session must enter it first."""
    try:
        expected = st.secrets.get("password")
    except FileNotFoundError:
        expected = None
    if not expected or st.session_state.get("authenticated"):
        return True
    given = st.text_input("Password", type="password", key="password_input")
    if given and hmac.compare_digest(given, str(expected)):
        st.session_state["authenticated"] = True
        st.rerun()
    if given:
        st.error("Wrong password.")
    return False


if password_ok():
    st.navigation([
        st.Page("pages/recommend.py", title="Recommend", icon=":material/thumb_up:", default=True),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/explore.py", title="Explore", icon=":material/scatter_plot:"),
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/leaderboard:"),
        st.Page("pages/feedback.py", title="Feedback", icon=":material/fact_check:"),
        st.Page("pages/data.py", title="Data", icon=":material/upload_file:"),
    ]).run()
