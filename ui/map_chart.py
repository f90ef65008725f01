"""The Explore map as one Vega-Lite chart: items, sampled users and the chosen user's items, one
or two maps (before / after) on one equal-axis scale, switched by a radio button under the chart (no rerun).
Why not plotly here: in headless Chromium on 2 cores a plotly WebGL map of the demo cost ~0.9 s of the browser's
time per visit (WebGL context, pixel read-back), a plotly SVG one as much; Vega's SVG of the same map ~0.25 s.
Texts stay data: Vega writes them as SVG text and its tooltip escapes them, so nothing is pre-escaped."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from recsys.maps import MapData

# role -> (shape, colour, filled, size); the page's caption names them: the chosen user's items on top of the map
ROLES = {"history": ("circle", "black", False, 90), "last item": ("triangle-up", "#d4a000", True, 220),
         "top 10": ("diamond", "red", True, 160), "user": ("cross", "black", True, 260)}
WIDTH = 760  # px of the plot area; the height follows the data so one unit is as long on both axes
RATIO = (0.45, 1.0)  # height / width bounds: a flatter or taller map gets room added around its shorter side
MAP = "Map"  # the radio button's label and the parameter's name


def map_chart(maps: list[tuple[str, MapData]], highlight: dict[str, list[str]], color: str) -> alt.LayerChart:
    """`maps`: (title, data) pairs, the last shown first; `highlight`: role -> item ids (user ids for 'user')."""
    items = pd.concat([_tag(d.items[["item_id", "title", "category", "popularity", "x", "y"]], t) for t, d in maps])
    users = pd.concat([_tag(d.users[["user_id", "x", "y"]], t) for t, d in maps])
    marks = pd.concat([_tag(_highlighted(d, highlight), t) for t, d in maps])
    x_span, y_span = fit_ratio(*shared_span(*[d for _, d in maps]))
    width, height = WIDTH, round(WIDTH * _ratio(x_span, y_span))
    x = alt.X("x:Q", scale=alt.Scale(domain=x_span, nice=False, zero=False), axis=None)
    y = alt.Y("y:Q", scale=alt.Scale(domain=y_span, nice=False, zero=False), axis=None)
    layers = [alt.Chart(users).mark_point(shape="cross", size=16, color="#9a9a9a", opacity=0.35)
              .encode(x=x, y=y, tooltip=[alt.Tooltip("user_id:N", title="user")]),
              _items_layer(items, x, y, color).properties(name="items")
              .add_params(alt.selection_interval(bind="scales", name="zoom")),
              *[_role_layer(marks[marks["role"] == role], x, y, *style) for role, style in ROLES.items()]]
    chart = alt.layer(*layers).properties(width=width, height=height).resolve_scale(color="independent")
    if len(maps) > 1:
        shown = alt.param(name=MAP, value=maps[-1][0], bind=alt.binding_radio(options=[t for t, _ in maps],
                                                                               name=f"{MAP}: "))
        chart = alt.layer(*[layer.transform_filter(alt.datum.map == shown) for layer in layers]) \
            .add_params(shown).properties(width=width, height=height).resolve_scale(color="independent")
    return chart.properties(autosize=alt.AutoSizeParams(type="pad")).configure_view(stroke="#dddddd")


def _items_layer(items: pd.DataFrame, x: alt.X, y: alt.Y, color: str) -> alt.Chart:
    if color == "category":
        order = items.loc[items["map"] == items["map"].iloc[-1], "category"].astype(str).value_counts()
        scheme = "tableau10" if order.size <= 10 else "tableau20"
        shade = alt.Color("category:N", sort=list(order.index), scale=alt.Scale(scheme=scheme),
                          legend=alt.Legend(title="category", symbolLimit=20, labelLimit=180))
    else:
        items = items.assign(popularity=items["popularity"].clip(upper=items["popularity"].quantile(0.99)))
        shade = alt.Color("popularity:Q", scale=alt.Scale(scheme="viridis"), legend=alt.Legend(title="popularity"))
    return alt.Chart(items).mark_circle(size=28, opacity=0.5).encode(
        x=x, y=y, color=shade, tooltip=[alt.Tooltip("title:N"), alt.Tooltip("item_id:N", title="id"),
                                        alt.Tooltip("category:N"), alt.Tooltip("popularity:Q")])


def _highlighted(data: MapData, highlight: dict[str, list[str]]) -> pd.DataFrame:
    rows = []
    for role, ids in highlight.items():
        if role == "user":
            points = data.users[data.users["user_id"].isin(ids)]
            rows.append(pd.DataFrame({"role": role, "label": points["user_id"], "x": points.x, "y": points.y}))
        else:
            points = data.items[data.items["item_id"].isin(ids)]
            rows.append(pd.DataFrame({"role": role, "label": points["title"], "x": points.x, "y": points.y}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["role", "label", "x", "y"])


def _role_layer(marks: pd.DataFrame, x: alt.X, y: alt.Y, shape: str, colour: str, filled: bool,
                size: int) -> alt.Chart:
    return alt.Chart(marks).mark_point(shape=shape, color=colour, filled=filled, size=size, strokeWidth=2,
                                        opacity=1).encode(x=x, y=y, tooltip=[alt.Tooltip("role:N"),
                                                                             alt.Tooltip("label:N", title="name")])


def _tag(frame: pd.DataFrame, title: str) -> pd.DataFrame:
    return frame.assign(map=title).reset_index(drop=True)


def fit_ratio(x_span: list[float], y_span: list[float]) -> tuple[list[float], list[float]]:
    """Widen the shorter span around its centre until height / width lies within RATIO, so the plot keeps
    its width, one unit stays as long on both axes and no map is a sliver."""
    ratio = _ratio(x_span, y_span)
    if ratio < RATIO[0]:
        return x_span, _widen(y_span, (x_span[1] - x_span[0]) * RATIO[0])
    if ratio > RATIO[1]:
        return _widen(x_span, (y_span[1] - y_span[0]) / RATIO[1]), y_span
    return x_span, y_span


def _ratio(x_span: list[float], y_span: list[float]) -> float:
    return max(y_span[1] - y_span[0], 1e-9) / max(x_span[1] - x_span[0], 1e-9)


def _widen(span: list[float], length: float) -> list[float]:
    middle = (span[0] + span[1]) / 2
    return [middle - length / 2, middle + length / 2]


def shared_span(*maps: MapData) -> tuple[list[float], list[float]]:
    """One x and one y range for every map drawn, so before and after use the same scale."""
    points = [m.items[["x", "y"]].to_numpy() for m in maps] + [m.users[["x", "y"]].to_numpy() for m in maps
                                                                if len(m.users)]
    lo, hi = np.min([p.min(0) for p in points], 0), np.max([p.max(0) for p in points], 0)
    pad = np.maximum(0.05 * (hi - lo), 0.5)  # a single point (or a line of them) still gets room
    return [float(lo[0] - pad[0]), float(hi[0] + pad[0])], [float(lo[1] - pad[1]), float(hi[1] + pad[1])]
