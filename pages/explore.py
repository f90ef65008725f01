"""Explore: items and users on a 2-D map, before vs after tuning on one aligned layout."""
from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from recsys.maps import MapData
from recsys.service import RecTuneError, available_methods, expected_seconds
from ui.common import alert, catalog, page_setup, plain, require_model, service_for

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
user = st.selectbox("Highlight user", rec.users(), key="map_user")


@st.cache_data(max_entries=16, show_spinner=False)
def cached_map(root: str, version: str, space: str, method: str, fingerprint: str, user: str,
               align_version: str | None = None, align_space: str = "tuned") -> MapData:
    target = None
    if align_version is not None:
        target = cached_map(root, align_version, align_space, method, fingerprint, user).items[["x", "y"]].to_numpy()
    data = service_for(root).embedding_map(version, space, method, align_to=target, extra_users=(user,))
    shown = data.items.assign(id=data.items["item_id"].map(plain), title=data.items["title"].map(plain),
                              category=data.items["category"].map(plain))
    return MapData(shown, data.users.assign(user_id=data.users["user_id"].map(plain)))


def figure(data: MapData, title: str, highlight: dict[str, list[str]], span, color: str) -> go.Figure:
    items = data.items
    fig = px.scatter(items, x="x", y="y", color=color if color == "category" else None,
                     hover_name="title", hover_data={"id": True, "item_id": False, "x": False, "y": False, "category": True},
                     color_continuous_scale="Viridis", title=title, opacity=0.45, render_mode="webgl")
    if color == "popularity":
        fig.update_traces(marker=dict(color=items["popularity"].clip(upper=items["popularity"].quantile(0.99)),
                                      colorscale="Viridis", showscale=True))
    if len(data.users):
        fig.add_scatter(x=data.users.x, y=data.users.y, mode="markers", name="users", text=data.users.user_id,
                        marker=dict(symbol="x", size=5, color="grey"), opacity=0.5)
    styles = {"history": ("circle-open", 11, "black"), "last item": ("star", 16, "gold"),
              "top 10": ("diamond", 12, "red"), "user": ("x", 16, "black")}
    for name, ids in highlight.items():
        pts = items[items["item_id"].isin(ids)] if name != "user" else data.users[data.users.user_id.isin(ids)]
        symbol, size, col = styles[name]
        fig.add_scatter(x=pts.x, y=pts.y, mode="markers", name=name, text=pts["title"] if "title" in pts else pts.user_id,
                        marker=dict(symbol=symbol, size=size, color=col, line=dict(width=2, color=col)))
    fig.update_layout(height=560, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h"))
    fig.update_xaxes(range=span[0], title=None)
    fig.update_yaxes(range=span[1], scaleanchor="x", scaleratio=1, title=None)  # equal axes: distances are true
    return fig


def shared_span(*maps: MapData) -> tuple[list[float], list[float]]:
    """One x and one y range for every map drawn, so before and after use the same scale."""
    points = [m.items[["x", "y"]].to_numpy() for m in maps] + [m.users[["x", "y"]].to_numpy() for m in maps
                                                                if len(m.users)]
    lo, hi = np.min([p.min(0) for p in points], 0), np.max([p.max(0) for p in points], 0)
    pad = 0.05 * (hi - lo)
    return [lo[0] - pad[0], hi[0] + pad[0]], [lo[1] - pad[1], hi[1] + pad[1]]


@st.cache_data(max_entries=16, show_spinner=False)
def cached_figures(root: str, after: str, before: str, method: str, fingerprint: str, user: str, color: str,
                   thumbs: int) -> list[go.Figure]:
    """The maps as drawn, cached per choice (and per ledger size: thumbs change the top 10): building plotly
    figures of every item costs about a second per map."""
    rec = service_for(root).recommender(after)
    history = [rec.item_ids[i] for i in rec.history(user)]
    highlight = {"history": history[:-1], "last item": history[-1:],
                 "top 10": [r.item_id for r in rec.recommend(user, 10, explain=0)], "user": [plain(user)]}
    after_map = cached_map(root, after, "tuned", method, fingerprint, user)
    if before == "nothing":
        return [figure(after_map, f"{after}", highlight, shared_span(after_map), color)]
    space, other = ("text", after) if before.startswith("untuned") else ("tuned", before)
    before_map = cached_map(root, other, space, method, fingerprint, user, after, "tuned")
    span = shared_span(before_map, after_map)
    return [figure(before_map, f"before: {before}", highlight, span, color),
            figure(after_map, f"after: {after}", highlight, span, color)]


st.caption("Each dot is an item, placed so that items the model treats alike sit close together; x marks users "
           "(the highlighted user with their history, their latest item and their top 10). Both maps share one scale "
           "and the 'before' map is rotated onto the 'after' one (Procrustes), so an item that moved really moved.")
n_items = len(catalog(service))
wait = expected_seconds(method, n_items) * (1 if before == "nothing" else 2)
try:
    with st.spinner(f"Projecting {n_items:,} items with {method.upper()}"
                    + (f": about {wait:.0f} s on 2 cores, once per version (then cached)" if wait > 2 else "...")):
        figures = cached_figures(str(service.ws.root), after, before, method, service.ws.data_dir.name, user, color,
                                 service.ledger().count())
    if len(figures) == 1:
        st.plotly_chart(figures[0], key="map_after")
    else:
        left, right = st.columns(2)
        left.plotly_chart(figures[0], key="map_before_chart")
        right.plotly_chart(figures[1], key="map_after_chart")
except (RecTuneError, ValueError) as exc:
    alert("error", exc)
