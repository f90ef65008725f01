"""Overview (the first page): the active model in one sentence against untuned and the best classic baseline,
the rounds and thumbs so far, and what to do next."""
from __future__ import annotations

import streamlit as st

from ui.common import alert, literal, page_links, page_setup

service = page_setup("Overview")
overview = service.overview()
st.subheader(literal(overview.headline))
if overview.cold:
    st.text(overview.cold)
st.caption("'Finds the next item in the top 10': each user's latest interaction is hidden, the model ranks the "
           "whole catalog, and a hit is that item among its first 10. ± is the 95% interval from the number of "
           "users measured; gaps smaller than it may be noise.")
for line in (overview.rounds, overview.thumbs):
    if line:
        st.text(line)
alert("info", f"Next: {overview.next_step}")
page_links([("pages/recommend.py", "Recommend and label", ":material/thumb_up:"),
            ("pages/compare.py", "Compare two models", ":material/compare_arrows:"),
            ("pages/train.py", "Train", ":material/model_training:"),
            ("pages/evaluate.py", "Evaluate", ":material/leaderboard:")], st.columns(4))
