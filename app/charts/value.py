"""Business-value figures: value per period, the value curve and KPIs over time."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from app.charts.layout import LAYOUT, add_band
from app.text import escape_plotly


def _spanning_periods(windows: pd.DataFrame) -> dict:
    """Bar geometry on a date axis so each bar covers its window, from start to end.

    Plotly centres a bar on its x, which would draw a month's bar from mid-previous-month;
    with offset 0 and a width of the window's length in ms (months differ) it starts on time.
    """
    length = pd.to_datetime(windows["window_end"]) - pd.to_datetime(windows["window_start"])
    return dict(
        x=windows["window_start"], width=(length.dt.total_seconds() * 1000).tolist(), offset=0
    )


def earnings_trend(windows: pd.DataFrame, unit: str, target: float | None) -> go.Figure:
    """Value per period over time: measured on outcomes where enough are in (kpi.by_window's
    `measured`), estimated where they are not."""
    unit = escape_plotly(unit)
    fig = go.Figure()
    realized = windows["measured"].astype(bool)
    colors = ["#2E86AB" if r else "#9DB4CF" for r in realized]
    fig.add_trace(
        go.Bar(
            **_spanning_periods(windows),
            y=windows["value_per_period"],
            marker_color=colors,
            marker_line=dict(color="white", width=1),
            name="value per period",
            # The unit goes in as data: in the template, a '%{' of it would be read as a field.
            customdata=[["measured" if r else "estimated", unit] for r in realized],
            hovertemplate="%{x|%Y-%m-%d}: %{y:,.0f} %{customdata[1]} (%{customdata[0]})"
            "<extra></extra>",
        )
    )
    if target is not None:
        fig.add_hline(
            y=target,
            line_dash="dash",
            line_color="#C0392B",
            annotation_text=f"target {target:,.0f} {unit}",
        )
    fig.update_layout(
        title="Value per period (light bars: estimated, not enough outcomes in yet)",
        yaxis_title=unit,
        **LAYOUT,
    )
    return fig


def value_curve(curve: pd.DataFrame, threshold: float, chosen: float, unit: str) -> go.Figure:
    """Value per decision for every threshold, the current one and the one being tried, with
    thresholds in points out of 100 as every page shows scores."""
    unit = escape_plotly(unit)
    best = curve.loc[curve["value_per_decision"].idxmax()]
    threshold, chosen = threshold * 100, chosen * 100
    fig = go.Figure(
        go.Scatter(
            x=curve["threshold"] * 100,
            y=curve["value_per_decision"],
            mode="lines",
            name="value per decision",
            line=dict(color="#4C78A8"),
        )
    )
    fig.add_vline(
        x=threshold,
        line_color="#4C566A",
        line_dash="dot",
        annotation_text="current",
        annotation_position="top left",
    )
    fig.add_vline(x=chosen, line_color="#E4572E", annotation_text="trying")
    fig.add_trace(
        go.Scatter(
            x=[best["threshold"] * 100],
            y=[best["value_per_decision"]],
            mode="markers+text",
            marker=dict(size=12, color="#2CA02C"),
            text=["best"],
            textposition="top center",
            name="best threshold",
        )
    )
    fig.update_layout(
        title="Value per decision by threshold",
        xaxis_title="threshold (score out of 100)",
        yaxis_title=f"{unit} per decision",
        **{**LAYOUT, "hovermode": "x"},
    )
    return fig


def kpi_over_time(windows: pd.DataFrame, unit: str) -> go.Figure:
    """Realized and estimated value per decision per period, with the estimate's band."""
    unit = escape_plotly(unit)
    fig = go.Figure()
    add_band(
        fig,
        windows["window_start"],
        windows["estimated_lower"],
        windows["estimated_upper"],
        "estimate's range",
    )
    fig.add_trace(
        go.Scatter(
            x=windows["window_start"],
            y=windows["estimated_value_per_decision"],
            mode="lines+markers",
            name="estimated",
            line=dict(color="#4C78A8"),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=windows["window_start"],
            y=windows["realized_value_per_decision"],
            mode="lines+markers",
            name="measured on outcomes",
            line=dict(color="#E4572E"),
        )
    )
    fig.update_layout(
        title="Value per decision, measured vs estimated",
        yaxis_title=f"{unit} per decision",
        **LAYOUT,
    )
    return fig
