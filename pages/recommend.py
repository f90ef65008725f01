"""Recommend: a user's top-k with scores and reasons and a thumb on every row; 'Label' is the focused
labelling mode (ui/labelling.py)."""
from __future__ import annotations

import streamlit as st

from ui.common import how_many, page_setup, pick_user, require_model
from ui.labelling import ask_annotator, browse_mode, label_mode

service = page_setup("Recommendations")
version = require_model(service)
c1, c2 = st.columns([3, 1])
mode = c1.segmented_control("Mode", ["Browse users", "Label"], default="Browse users", key="rec_mode",
                            help="Label: one user at a time from a queue of those with the fewest thumbs, with "
                                 "progress and keyboard shortcuts (N: next user, S: skip).")
k = how_many(c2, "recommend_k")
if mode == "Label":
    if ask_annotator():
        label_mode(service, version.name, k)
else:
    browse_mode(service, version.name, pick_user(service.recommender(version.name).users()), k)
