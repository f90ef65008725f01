"""Explore: items and users on a 2-D map, before vs after tuning on one aligned layout."""
from __future__ import annotations

import altair as alt
import streamlit as st

from recsys.maps import MAP_ITEMS, NOTHING, UNTUNED
from recsys.service import RecTuneError, available_methods, expected_seconds
from ui.common import alert, catalog, page_setup, pick_user, require_model, service_for
from ui.map_chart import map_chart

service = page_setup("Explore the embedding map")
active = require_model(service)
rec = service.recommender(active.name)
versions = [v.name for v in service.versions()]

c1, c2, c3, c4 = st.columns(4)
after = c1.selectbox("Model version", versions, index=versions.index(active.name), key="map_version")
before = c2.selectbox("Compare with", [UNTUNED, NOTHING] + [v for v in versions if v != after],
                      key="map_before")
method = c3.selectbox("Projection", available_methods(), key="map_method",
                      help="PCA is instant and places users too; t-SNE (and UMAP, when umap-learn is installed) keep "
                           "neighbours together better but take about a minute on 2 cores.")
color = c4.selectbox("Colour by", ["category", "popularity"], key="map_color")
user = pick_user(rec.users(), label="Highlight user")


@st.cache_data(max_entries=16, show_spinner=False)
def cached_chart(root: str, after: str, before: str, method: str, fingerprint: str, user: str, color: str,
                 thumbs: int) -> alt.LayerChart:
    """The map as drawn, cached per choice (and per ledger size: thumbs change the top 10); the maps themselves
    are the Service's (Service.explore_maps: its warm-up draws the default choice before anyone asks)."""
    highlight, maps = service_for(root).explore_maps(after, before, method, user)
    return map_chart(maps, highlight, color)


st.caption("Each dot is an item, placed so that items the model treats alike sit close together; grey crosses are "
           "users. The highlighted user is a black cross, their history black rings, their latest item a gold "
           "triangle, their top 10 red diamonds. Switch between 'before' and "
           "'after' with the Map buttons under the chart; drag to pan, scroll to zoom, double-click to reset. Both "
           "maps share one scale and the 'before' map is rotated onto the 'after' one (Procrustes), so an item that "
           "moved really moved.")
n_items = min(len(catalog(service)), MAP_ITEMS)
wait = expected_seconds(method, n_items) * (1 if before == NOTHING else 2)
try:
    with st.spinner(f"Projecting {n_items:,} items with {method.upper()}"
                    + (f": about {wait:.0f} s on 2 cores, once per version (then cached)" if wait > 2 else "...")):
        chart = cached_chart(str(service.ws.root), after, before, method, service.ws.data_dir.name, user, color,
                             service.ledger().count())
    st.altair_chart(chart, width="content", key="map")
    total = len(catalog(service))
    if total > MAP_ITEMS:
        st.caption(f"The map draws {MAP_ITEMS:,} of the catalog's {total:,} items: a fixed random sample plus all of "
                   "this user's items (history and top 10), the same items in both maps. Recommendations rank "
                   "every item.")
except (RecTuneError, ValueError) as exc:
    alert("error", exc)
