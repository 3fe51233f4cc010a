"""Traffic and data-quality figures: volume, latency, scores and rejections per day or week."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from app.charts.layout import LAYOUT, per_period
from app.text import escape_plotly
from core.monitoring.data_quality import describe_reason


def daily_volume(daily: pd.DataFrame) -> go.Figure:
    """Bars of predictions per day."""
    fig = go.Figure(
        go.Bar(
            x=daily["day"],
            y=daily["predictions"],
            name="Predictions",
            marker_color="#4C78A8",
            **per_period("D"),
        )
    )
    fig.update_layout(title="Predictions per day", yaxis_title="predictions", **LAYOUT)
    return fig


def latency_percentiles(
    daily: pd.DataFrame, slo_ms: float | None = None, period: str = "D"
) -> go.Figure:
    """p50/p95/p99 latency per day (or week), with the SLO as a line when given."""
    fig = go.Figure()
    for column, label, color in (
        ("latency_p50", "p50", "#54A24B"),
        ("latency_p95", "p95", "#F58518"),
        ("latency_p99", "p99", "#E45756"),
    ):
        fig.add_trace(
            go.Scatter(
                x=daily["day"],
                y=daily[column],
                name=label,
                mode="lines",
                line=dict(color=color),
                **per_period(period),
            )
        )
    if slo_ms is not None:
        fig.add_hline(
            y=slo_ms, line_dash="dash", line_color="grey", annotation_text=f"SLO {slo_ms:g} ms"
        )
    title = "Latency per week (ms)" if period == "W" else "Latency per day (ms)"
    fig.update_layout(title=title, yaxis_title="ms", **LAYOUT)
    return fig


def score_heatmap(
    dist: pd.DataFrame, title: str = "Prediction scores per day", *, as_points: bool = False
) -> go.Figure:
    """Day × score-bin heatmap of the share of each day's predictions; a binary model's scores
    AS_POINTS out of 100, as every other page shows them."""
    table = dist.pivot_table(index="bin_start", columns="day", values="share", fill_value=0.0)
    scale = 100 if as_points else 1
    fig = go.Figure(
        go.Heatmap(
            z=table.to_numpy(),
            x=list(table.columns),
            y=[round(v * scale, 3) for v in table.index],
            colorscale="Blues",
            colorbar=dict(title="share", tickformat=".0%"),
            hovertemplate="day %{x}<br>score from %{y}<br>%{z:.1%} of the day<extra></extra>",
            **per_period("D"),
        )
    )
    fig.update_layout(
        title=title,
        yaxis_title="score (out of 100)" if as_points else "prediction",
        **{**LAYOUT, "hovermode": "closest"},
    )
    return fig


def received_vs_quarantined(volume: pd.DataFrame, period: str = "D") -> go.Figure:
    """Stacked bars of ingested and quarantined rows per period, with the quarantined share."""
    fig = go.Figure()
    for column, color in (("ingested", "#4C78A8"), ("quarantined", "#E45756")):
        fig.add_trace(
            go.Bar(
                x=volume["period"],
                y=volume[column],
                name=column,
                marker_color=color,
                **per_period(period),
            )
        )
    fig.add_trace(
        go.Scatter(
            x=volume["period"],
            y=volume["quarantined_share"],
            name="share rejected",
            yaxis="y2",
            mode="lines",
            line=dict(color="#222", width=1.5),
            **per_period(period),
        )
    )
    fig.update_layout(
        title="Requests received",
        barmode="stack",
        yaxis_title="rows",
        yaxis2=dict(
            overlaying="y", side="right", tickformat=".0%", rangemode="tozero", showgrid=False
        ),
        **LAYOUT,
    )
    return fig


def rejection_reasons(reasons: pd.DataFrame, period: str = "D", top: int = 8) -> go.Figure:
    """Share of requests rejected per period, stacked by reason in words: the latest period's
    largest reason (the one the headline names) and the largest overall, TOP in all, each
    named; the rest together as one grey 'other reasons' series on top."""
    totals = reasons.groupby("reason")["rows"].sum().sort_values(ascending=False, kind="stable")
    last = reasons[reasons["period"] == reasons["period"].max()]
    # Largest first, ties by name: the order core.monitoring.data_quality.reasons gives.
    latest = last.sort_values(["rows", "reason"], ascending=[False, True])["reason"][:1].tolist()
    named = list(dict.fromkeys([*latest, *totals.index]))[:top]
    rest = [r for r in totals.index if r not in named]
    label = {r: _reason_label(r) for r in named} | {
        r: f"{len(rest)} other reason{'s' if len(rest) > 1 else ''}" for r in rest
    }
    frame = reasons.assign(reason=reasons["reason"].map(label))
    frame = frame.groupby(["period", "reason"], as_index=False)["share"].sum()
    fig = go.Figure()
    for name in [label[r] for r in sorted(named, key=lambda r: -totals[r])] + (
        [label[rest[0]]] if rest else []
    ):
        part = frame[frame["reason"] == name]
        grey = dict(marker_color="#B0B7C3") if rest and name == label[rest[0]] else {}
        fig.add_trace(
            go.Bar(
                x=part["period"],
                y=part["share"],
                name=escape_plotly(name),
                **grey,
                **per_period(period),
            )
        )
    fig.update_layout(
        title="Why requests were rejected (share of requests)",
        barmode="stack",
        yaxis_tickformat=".1%",
        **LAYOUT,
    )
    return fig


def _reason_label(reason: str) -> str:
    """'missing:age' -> "Missing 'age'": the headline's words without their article."""
    words = describe_reason(reason).removeprefix("a ").removeprefix("an ")
    return words[:1].upper() + words[1:]


def feature_heatmap(
    rates: pd.DataFrame, problem: str, title: str, period: str = "D", *, empty: str = ""
) -> go.Figure:
    """Feature × period heatmap of one problem's rate, for the features that can have it
    (core.monitoring.data_quality.feature_rates); with no such row above zero, no colour scale
    but the sentence EMPTY ('Nothing to show: ...')."""
    part = rates[rates["problem"] == problem]
    if not (part["rate"] > 0).any():
        return nothing_to_show(title, empty or "Nothing to show: no request had this problem.")
    table = part.pivot_table(index="feature", columns="period", values="rate", fill_value=0.0)
    fig = go.Figure(
        go.Heatmap(
            z=table.to_numpy(),
            x=list(table.columns),
            y=[escape_plotly(feature) for feature in table.index],
            colorscale="Reds",
            zmin=0,
            colorbar=dict(title="rate", tickformat=".1%"),
            hovertemplate="%{y}<br>%{x}<br>%{z:.2%} of requests<extra></extra>",
            **per_period(period),
        )
    )
    fig.update_layout(
        title=title,
        **{**LAYOUT, "hovermode": "closest", "height": max(260, 26 * len(table) + 120)},
    )
    return fig


def nothing_to_show(title: str, sentence: str) -> go.Figure:
    """A figure with no axes and no colour scale, only SENTENCE saying why it is empty."""
    fig = go.Figure()
    fig.add_annotation(
        text=escape_plotly(sentence),
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font=dict(size=15, color="#4C566A"),
    )
    fig.update_layout(
        title=title,
        xaxis=dict(visible=False),
        yaxis=dict(visible=False),
        **{**LAYOUT, "height": 160},
    )
    return fig
