"""The Explore map as one plotly figure: one or two maps (before / after) on one equal-axis scale, switched by
buttons inside the chart. Only the visible map is drawn, so a page draws ~2,000 points, not twice that: in
headless Chromium each 1,600-item WebGL map costs ~0.4 s of the browser's time, and a switch costs no rerun."""
from __future__ import annotations

import numpy as np
import plotly.express as px
import plotly.graph_objects as go

from recsys.maps import MapData

STYLES = {"history": ("circle-open", 11, "black"), "last item": ("star", 16, "gold"),
          "top 10": ("diamond", 12, "red"), "user": ("x", 16, "black")}


def map_figure(maps: list[tuple[str, MapData]], highlight: dict[str, list[str]], color: str) -> go.Figure:
    """`maps`: (title, data) pairs, the last shown first; `highlight`: layer name -> item ids (user ids for
    'user'). Texts in the data must already be escaped for plotly."""
    fig = go.Figure()
    groups = []
    for k, (_title, data) in enumerate(maps):
        first = len(fig.data)
        _add_map(fig, data, highlight, color, visible=k == len(maps) - 1)
        groups.append((first, len(fig.data)))
    x_span, y_span = shared_span(*[data for _, data in maps])
    fig.update_layout(height=600, margin=dict(l=10, r=10, t=70, b=10), legend=dict(orientation="h"),
                      title=dict(text=maps[-1][0], x=0.99, xanchor="right"))
    fig.update_xaxes(range=x_span, title=None)
    fig.update_yaxes(range=y_span, scaleanchor="x", scaleratio=1, title=None)  # equal axes: distances are true
    if len(maps) > 1:
        fig.update_layout(updatemenus=[dict(type="buttons", direction="right", x=0, xanchor="left", y=1.02,
                                            yanchor="bottom", active=len(maps) - 1, showactive=True,
                                            buttons=[_switch(title, span, len(fig.data))
                                                     for (title, _), span in zip(maps, groups)])])
    return fig


def _switch(title: str, span: tuple[int, int], n_traces: int) -> dict:
    visible = [span[0] <= i < span[1] for i in range(n_traces)]
    return dict(label=title, method="update", args=[{"visible": visible}, {"title.text": title}])


def _add_map(fig: go.Figure, data: MapData, highlight: dict[str, list[str]], color: str, visible: bool) -> None:
    items = data.items
    hover = dict(text=items["title"], customdata=items[["id", "category"]].to_numpy(),
                 hovertemplate="<b>%{text}</b><br>id %{customdata[0]}<br>%{customdata[1]}<extra></extra>")
    if color == "category":
        palette = px.colors.qualitative.Plotly
        for i, name in enumerate(sorted(items["category"].astype(str).unique())):
            rows = (items["category"].astype(str) == name).to_numpy()
            fig.add_scattergl(x=items.x[rows], y=items.y[rows], mode="markers", name=name, visible=visible,
                              marker=dict(color=palette[i % len(palette)], size=6), opacity=0.45,
                              **{k: v[rows] for k, v in hover.items() if k != "hovertemplate"},
                              hovertemplate=hover["hovertemplate"])
    else:
        popularity = items["popularity"].clip(upper=items["popularity"].quantile(0.99))
        fig.add_scattergl(x=items.x, y=items.y, mode="markers", name="items", visible=visible, opacity=0.45,
                          marker=dict(color=popularity, colorscale="Viridis", showscale=True, size=6), **hover)
    if len(data.users):
        fig.add_scattergl(x=data.users.x, y=data.users.y, mode="markers", name="users", text=data.users.user_id,
                          visible=visible, marker=dict(symbol="x", size=5, color="grey"), opacity=0.5)
    for name, ids in highlight.items():
        points = data.users[data.users.user_id.isin(ids)] if name == "user" else items[items["item_id"].isin(ids)]
        symbol, size, col = STYLES[name]
        fig.add_scatter(x=points.x, y=points.y, mode="markers", name=name, visible=visible,
                        text=points["user_id"] if name == "user" else points["title"],
                        marker=dict(symbol=symbol, size=size, color=col, line=dict(width=2, color=col)))


def shared_span(*maps: MapData) -> tuple[list[float], list[float]]:
    """One x and one y range for every map drawn, so before and after use the same scale."""
    points = [m.items[["x", "y"]].to_numpy() for m in maps] + [m.users[["x", "y"]].to_numpy() for m in maps
                                                                if len(m.users)]
    lo, hi = np.min([p.min(0) for p in points], 0), np.max([p.max(0) for p in points], 0)
    pad = 0.05 * (hi - lo)
    return [lo[0] - pad[0], hi[0] + pad[0]], [lo[1] - pad[1], hi[1] + pad[1]]
