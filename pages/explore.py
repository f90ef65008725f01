"""Explore: items and users on a 2-D map, before vs after tuning on one aligned layout."""
from __future__ import annotations

import altair as alt
import streamlit as st

from recsys.maps import MAP_ITEMS, MapData
from recsys.service import RecTuneError, available_methods, expected_seconds
from ui.common import alert, catalog, page_setup, pick_user, require_model, service_for
from ui.map_chart import map_chart

service = page_setup("Explore the embedding map")
active = require_model(service)
rec = service.recommender(active.name)
versions = [v.name for v in service.versions()]

c1, c2, c3, c4 = st.columns(4)
after = c1.selectbox("Model version", versions, index=versions.index(active.name), key="map_version")
before = c2.selectbox("Compare with", ["untuned text embeddings", "nothing"] + [v for v in versions if v != after],
                      key="map_before")
method = c3.selectbox("Projection", available_methods(), key="map_method",
                      help="PCA is instant and places users too; t-SNE (and UMAP, when umap-learn is installed) keep "
                           "neighbours together better but take about a minute on 2 cores.")
color = c4.selectbox("Colour by", ["category", "popularity"], key="map_color")
user = pick_user(rec.users(), label="Highlight user")


@st.cache_data(max_entries=16, show_spinner=False)
def cached_map(root: str, version: str, space: str, method: str, fingerprint: str, user: str, keep: tuple[str, ...],
               align_version: str | None = None, align_space: str = "tuned") -> MapData:
    target = None
    if align_version is not None:
        target = cached_map(root, align_version, align_space, method, fingerprint, user, keep).items[["item_id", "x",
                                                                                                       "y"]]
    return service_for(root).embedding_map(version, space, method, align_to=target, extra_users=(user,),
                                           keep_items=keep)


@st.cache_data(max_entries=16, show_spinner=False)
def cached_chart(root: str, after: str, before: str, method: str, fingerprint: str, user: str, color: str,
                 thumbs: int) -> alt.LayerChart:
    """The map as drawn, cached per choice (and per ledger size: thumbs change the top 10)."""
    rec = service_for(root).recommender(after)
    history = [rec.item_ids[i] for i in rec.history(user)]
    highlight = {"history": history[:-1], "last item": history[-1:],
                 "top 10": [r.item_id for r in rec.recommend(user, 10, explain=0)], "user": [user]}
    # the user's items a sampled map must draw (a full map draws them anyway: no key change, no re-projection)
    keep = tuple(dict.fromkeys(history[-MAP_ITEMS // 4:] + highlight["top 10"])) if len(rec.item_ids) > MAP_ITEMS \
        else ()
    maps = [(f"after: {after}", cached_map(root, after, "tuned", method, fingerprint, user, keep))]
    if before != "nothing":
        space, other = ("text", after) if before.startswith("untuned") else ("tuned", before)
        maps.insert(0, (f"before: {before}", cached_map(root, other, space, method, fingerprint, user, keep, after,
                                                        "tuned")))
    return map_chart(maps, highlight, color)


st.caption("Each dot is an item, placed so that items the model treats alike sit close together; grey crosses are "
           "users. The highlighted user is a black cross, their history black rings, their latest item a gold "
           "triangle, their top 10 red diamonds. Switch between 'before' and "
           "'after' with the Map buttons under the chart; drag to pan, scroll to zoom, double-click to reset. Both "
           "maps share one scale and the 'before' map is rotated onto the 'after' one (Procrustes), so an item that "
           "moved really moved.")
n_items = min(len(catalog(service)), MAP_ITEMS)
wait = expected_seconds(method, n_items) * (1 if before == "nothing" else 2)
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
