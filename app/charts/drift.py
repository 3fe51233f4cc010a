"""Drift figures: the features × windows heatmap, distributions, signals and performance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app.charts.layout import LAYOUT, add_band
from app.text import escape_plotly
from core.monitoring import performance


def drift_heatmap(scores: pd.DataFrame) -> go.Figure:
    """Features × windows as squares coloured by how far past its threshold each value is.

    Drawn as a scatter of square markers so that a click selects one cell; a clicked cell's y is
    its feature's escaped name (app.text.unescape_plotly gives the name back).
    """
    frame = scores.assign(
        capped=scores["score"].clip(upper=3.0),
        feature=scores["feature"].map(escape_plotly),
        rule=scores["rule"].map(escape_plotly),
    )
    features = list(dict.fromkeys(frame.sort_values("feature")["feature"]))
    fig = go.Figure(
        go.Scatter(
            x=frame["window_start"],
            y=frame["feature"],
            mode="markers",
            marker=dict(
                symbol="square",
                size=18,
                color=frame["capped"],
                cmin=0,
                cmax=3,
                colorscale=[[0, "#E8F1FB"], [0.33, "#FCE3B0"], [0.34, "#F8B26A"], [1, "#C0392B"]],
                colorbar=dict(title="× threshold"),
                line=dict(width=0),
            ),
            customdata=frame.assign(
                verdict=np.where(frame["drifted"].astype(bool), "drifted", "not drifted")
            )[["verdict", "rule"]].to_numpy(),
            hovertemplate="%{y} · %{x|%Y-%m-%d}: %{customdata[0]}<br>%{customdata[1]}"
            "<extra></extra>",
        )
    )
    fig.update_layout(
        title="Drift per feature and window (click a square)",
        yaxis=dict(categoryorder="array", categoryarray=features[::-1]),
        **{**LAYOUT, "hovermode": "closest", "height": 120 + 28 * len(features)},
    )
    return fig


def distribution_overlay(dist: pd.DataFrame, feature: str, window_label: str) -> go.Figure:
    """Reference and window shares per bucket, side by side."""
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=dist["bucket"].map(escape_plotly),
            y=dist["reference"],
            name="training (reference)",
            marker_color="#9DB4CF",
        )
    )
    fig.add_trace(
        go.Bar(
            x=dist["bucket"].map(escape_plotly),
            y=dist["window"],
            name=escape_plotly(window_label),
            marker_color="#E4572E",
            opacity=0.8,
        )
    )
    fig.update_layout(
        title=f"{escape_plotly(feature)}: reference vs {escape_plotly(window_label)}",
        barmode="group",
        yaxis_tickformat=".0%",
        **{**LAYOUT, "hovermode": "x"},
    )
    return fig


def signal_over_time(
    frame: pd.DataFrame,
    value: str,
    title: str,
    threshold: str | None = None,
    lower: str | None = None,
    upper: str | None = None,
) -> go.Figure:
    """A value per window with its threshold line or band."""
    fig = go.Figure()
    if lower and upper:
        add_band(fig, frame["window_start"], frame[lower], frame[upper], "expected range")
    fig.add_trace(
        go.Scatter(
            x=frame["window_start"],
            y=frame[value],
            mode="lines+markers",
            name=value.replace("_", " "),
            line=dict(color="#4C78A8"),
        )
    )
    if threshold:
        fig.add_trace(
            go.Scatter(
                x=frame["window_start"],
                y=frame[threshold],
                mode="lines",
                name="threshold",
                line=dict(color="#C0392B", dash="dash"),
            )
        )
    fig.update_layout(title=title, **LAYOUT)
    return fig


def realized_vs_estimated(perf: pd.DataFrame, metric: str, label: str) -> go.Figure:
    """Realized (labels) and estimated (no labels needed) metric per window, with the band; a
    subtitle says why windows with too few labels have no realized value."""
    part = perf[perf["metric"] == metric]
    title = f"{escape_plotly(label)}: measured on labels vs estimated"
    fig = signal_over_time(part, "estimated", title, lower="lower", upper="upper")
    fig.update_traces(
        selector=dict(name="estimated"),
        customdata=part["n_labeled"],
        hovertemplate=f"estimated %{{y:.3f}} (%{{customdata:,}} labels; realized needs at "
        f"least {performance.MIN_LABELLED})<extra></extra>",
    )
    note = performance.realized_note(part)
    if note:
        fig.update_layout(
            title=dict(text=title, subtitle=dict(text=escape_plotly(note))), margin=dict(t=70)
        )
    fig.add_trace(
        go.Scatter(
            x=part["window_start"],
            y=part["realized"],
            mode="lines+markers",
            name="realized (labels)",
            line=dict(color="#E4572E"),
        )
    )
    return fig
