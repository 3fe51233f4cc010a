"""Explanation figures: one case's contributions and score, importance and its ranks."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from app.charts.layout import LAYOUT
from app.text import escape_plotly


def contribution_waterfall(
    base: float,
    contributions: dict[str, float],
    labels: dict[str, str],
    output: float,
    as_points: bool,
    top: int = 8,
) -> go.Figure:
    """How the typical score becomes this case's score, feature by feature."""
    ranked = sorted(contributions.items(), key=lambda kv: -abs(kv[1]))
    shown, rest = ranked[:top], ranked[top:]
    scale = 100.0 if as_points else 1.0
    names = [escape_plotly(labels.get(n, n)) for n, _ in shown]
    values = [v * scale for _, v in shown]
    if rest:
        names.append(f"{len(rest)} other input{'s' if len(rest) > 1 else ''}")
        values.append(sum(v for _, v in rest) * scale)
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            measure=["absolute", *["relative"] * len(values), "total"],
            y=["typical case", *names, "this case"],
            x=[base * scale, *values, output * scale],
            increasing=dict(marker=dict(color="#E4572E")),
            decreasing=dict(marker=dict(color="#2E86AB")),
            totals=dict(marker=dict(color="#4C566A")),
            texttemplate="%{x:+.1f}" if as_points else "%{x:+.3g}",
            textposition="outside",
        )
    )
    unit = "score in points (0–100)" if as_points else "model output"
    fig.update_layout(
        title="From a typical case to this one",
        xaxis_title=unit,
        yaxis=dict(autorange="reversed"),
        **{**LAYOUT, "height": 140 + 34 * (len(values) + 2), "hovermode": "closest"},
    )
    return fig


def score_against_threshold(score: float, threshold: float) -> go.Figure:
    """A bullet gauge of the score with the threshold marked."""
    fig = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=score * 100,
            number=dict(suffix=" / 100"),
            gauge=dict(
                shape="bullet",
                axis=dict(range=[0, 100]),
                threshold=dict(line=dict(color="#C0392B", width=3), value=threshold * 100),
                bar=dict(color="#E4572E" if score >= threshold else "#2E86AB"),
            ),
        )
    )
    fig.update_layout(height=90, margin=dict(l=10, r=10, t=10, b=10))
    return fig


def importance_bars(importance: pd.DataFrame, labels: dict[str, str]) -> go.Figure:
    """Average influence of each input in training data and in recent production."""
    frame = importance.assign(
        label=importance["feature"].map(lambda n: escape_plotly(labels.get(n, n)))
    )
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            y=frame["label"],
            x=frame["reference"] * 100,
            orientation="h",
            name="training data",
            marker_color="#9DB4CF",
        )
    )
    logged = frame["production"].notna().any()
    if logged:  # a version that has logged nothing yet gets no empty "recent decisions" series
        fig.add_trace(
            go.Bar(
                y=frame["label"],
                x=frame["production"] * 100,
                orientation="h",
                name="recent decisions",
                marker_color="#E4572E",
            )
        )
    title = "How much each input moves the score (average, in points)"
    fig.update_layout(
        title=title if logged else f"{title}: training data only, no decisions logged yet",
        barmode="group",
        yaxis=dict(autorange="reversed"),
        **{**LAYOUT, "height": 140 + 40 * len(frame), "hovermode": "closest"},
    )
    return fig


# More lines than this on one chart make a tangle: draw the strongest, offer the rest.
MAX_SERIES = 8


def by_latest_rank(ranks: pd.DataFrame) -> list[str]:
    """The inputs of RANKS (importance_over_time), strongest in the latest window first."""
    latest = ranks[ranks["window_start"] == ranks["window_start"].max()]
    order = latest.sort_values(["rank", "feature"])["feature"].tolist()
    return order + sorted(set(ranks["feature"]) - set(order))


def rank_over_time(
    ranks: pd.DataFrame, labels: dict[str, str], shown: list[str] | None = None
) -> go.Figure:
    """Each input's rank of influence per window (1 = most influential), for the inputs SHOWN
    (by default the MAX_SERIES strongest in the latest window), strongest first."""
    shown = by_latest_rank(ranks)[:MAX_SERIES] if shown is None else shown
    fig = go.Figure()
    for feature in shown:
        part = ranks[ranks["feature"] == feature]
        fig.add_trace(
            go.Scatter(
                x=part["window_start"],
                y=part["rank"],
                mode="lines+markers",
                name=escape_plotly(labels.get(feature, feature)),
            )
        )
    fig.update_layout(
        title="What drives the model, week by week (1 = strongest)",
        yaxis=dict(autorange="reversed", dtick=1),
        **LAYOUT,
    )
    return fig
