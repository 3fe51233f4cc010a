"""Plotly figures drawn from tidy frames that core returns. No queries here."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core import performance

_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), height=320, hovermode="x unified")
_PERIOD_MS = {"D": 86_400_000, "W": 7 * 86_400_000}


def _per_period(period: str) -> dict:
    """Draw a value stamped with its period's first instant in the middle of that period.

    Plotly centres a bar, a point or a heatmap cell on its x: a day stamped at midnight would
    be drawn from noon the day before to noon, half in the wrong day.
    """
    hover = "week of %d %b %Y" if period == "W" else "%a %d %b %Y"
    return dict(xperiod=_PERIOD_MS[period], xperiodalignment="middle", xhoverformat=hover)


def daily_volume(daily: pd.DataFrame) -> go.Figure:
    """Bars of predictions per day."""
    fig = go.Figure(
        go.Bar(
            x=daily["day"],
            y=daily["predictions"],
            name="Predictions",
            marker_color="#4C78A8",
            **_per_period("D"),
        )
    )
    fig.update_layout(title="Predictions per day", yaxis_title="predictions", **_LAYOUT)
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
                **_per_period(period),
            )
        )
    if slo_ms is not None:
        fig.add_hline(
            y=slo_ms, line_dash="dash", line_color="grey", annotation_text=f"SLO {slo_ms:g} ms"
        )
    title = "Latency per week (ms)" if period == "W" else "Latency per day (ms)"
    fig.update_layout(title=title, yaxis_title="ms", **_LAYOUT)
    return fig


def score_heatmap(dist: pd.DataFrame, title: str = "Prediction scores per day") -> go.Figure:
    """Day × score-bin heatmap of the share of each day's predictions."""
    table = dist.pivot_table(index="bin_start", columns="day", values="share", fill_value=0.0)
    fig = go.Figure(
        go.Heatmap(
            z=table.to_numpy(),
            x=list(table.columns),
            y=[round(v, 3) for v in table.index],
            colorscale="Blues",
            colorbar=dict(title="share", tickformat=".0%"),
            hovertemplate="day %{x}<br>score from %{y}<br>%{z:.1%} of the day<extra></extra>",
            **_per_period("D"),
        )
    )
    fig.update_layout(title=title, yaxis_title="score", **{**_LAYOUT, "hovermode": "closest"})
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
                **_per_period(period),
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
            **_per_period(period),
        )
    )
    fig.update_layout(
        title="Requests received",
        barmode="stack",
        yaxis_title="rows",
        yaxis2=dict(
            overlaying="y", side="right", tickformat=".0%", rangemode="tozero", showgrid=False
        ),
        **_LAYOUT,
    )
    return fig


def rejection_reasons(reasons: pd.DataFrame, period: str = "D", top: int = 8) -> go.Figure:
    """Share of requests rejected per period, stacked by the most common reasons."""
    leading = reasons.groupby("reason")["rows"].sum().nlargest(top).index
    frame = reasons.assign(reason=reasons["reason"].where(reasons["reason"].isin(leading), "other"))
    frame = frame.groupby(["period", "reason"], as_index=False)["share"].sum()
    fig = go.Figure()
    for reason, part in frame.groupby("reason"):
        fig.add_trace(
            go.Bar(x=part["period"], y=part["share"], name=str(reason), **_per_period(period))
        )
    fig.update_layout(
        title="Why requests were rejected (share of requests)",
        barmode="stack",
        yaxis_tickformat=".1%",
        **_LAYOUT,
    )
    return fig


def feature_heatmap(rates: pd.DataFrame, problem: str, title: str, period: str = "D") -> go.Figure:
    """Feature × period heatmap of one problem's rate."""
    part = rates[rates["problem"] == problem]
    table = part.pivot_table(index="feature", columns="period", values="rate", fill_value=0.0)
    fig = go.Figure(
        go.Heatmap(
            z=table.to_numpy(),
            x=list(table.columns),
            y=list(table.index),
            colorscale="Reds",
            zmin=0,
            colorbar=dict(title="rate", tickformat=".1%"),
            hovertemplate="%{y}<br>%{x}<br>%{z:.2%} of requests<extra></extra>",
            **_per_period(period),
        )
    )
    fig.update_layout(
        title=title,
        **{**_LAYOUT, "hovermode": "closest", "height": max(260, 26 * len(table) + 120)},
    )
    return fig


def drift_heatmap(scores: pd.DataFrame) -> go.Figure:
    """Features × windows as squares coloured by how far past its threshold each value is.

    Drawn as a scatter of square markers so that a click selects one cell.
    """
    frame = scores.assign(capped=scores["score"].clip(upper=3.0))
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
            customdata=frame[["method", "value", "threshold"]].to_numpy(),
            hovertemplate="%{y} · %{x|%Y-%m-%d}<br>%{customdata[0]} %{customdata[1]:.3g}"
            " (threshold %{customdata[2]:.3g})<extra></extra>",
        )
    )
    fig.update_layout(
        title="Drift per feature and window (click a square)",
        yaxis=dict(categoryorder="array", categoryarray=features[::-1]),
        **{**_LAYOUT, "hovermode": "closest", "height": 120 + 28 * len(features)},
    )
    return fig


def distribution_overlay(dist: pd.DataFrame, feature: str, window_label: str) -> go.Figure:
    """Reference and window shares per bucket, side by side."""
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=dist["bucket"],
            y=dist["reference"],
            name="training (reference)",
            marker_color="#9DB4CF",
        )
    )
    fig.add_trace(
        go.Bar(
            x=dist["bucket"],
            y=dist["window"],
            name=window_label,
            marker_color="#E4572E",
            opacity=0.8,
        )
    )
    fig.update_layout(
        title=f"{feature}: reference vs {window_label}",
        barmode="group",
        yaxis_tickformat=".0%",
        **{**_LAYOUT, "hovermode": "x"},
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
        fig.add_trace(
            go.Scatter(
                x=frame["window_start"],
                y=frame[upper],
                mode="lines",
                line=dict(width=0),
                showlegend=False,
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=frame["window_start"],
                y=frame[lower],
                mode="lines",
                line=dict(width=0),
                fill="tonexty",
                fillcolor="rgba(76,120,168,0.15)",
                name="expected range",
            )
        )
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
    fig.update_layout(title=title, **_LAYOUT)
    return fig


def realized_vs_estimated(perf: pd.DataFrame, metric: str, label: str) -> go.Figure:
    """Realized (labels) and estimated (no labels needed) metric per window, with the band; a
    subtitle says why windows with too few labels have no realized value."""
    part = perf[perf["metric"] == metric]
    title = f"{label}: measured on labels vs estimated"
    fig = signal_over_time(part, "estimated", title, lower="lower", upper="upper")
    fig.update_traces(
        selector=dict(name="estimated"),
        customdata=part["n_labeled"],
        hovertemplate=f"estimated %{{y:.3f}} (%{{customdata:,}} labels; realized needs at "
        f"least {performance.MIN_LABELLED})<extra></extra>",
    )
    note = performance.realized_note(part)
    if note:
        fig.update_layout(title=dict(text=title, subtitle=dict(text=note)), margin=dict(t=70))
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
    names = [labels.get(n, n) for n, _ in shown]
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
        **{**_LAYOUT, "height": 140 + 34 * (len(values) + 2), "hovermode": "closest"},
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
    frame = importance.assign(label=importance["feature"].map(lambda n: labels.get(n, n)))
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
    fig.add_trace(
        go.Bar(
            y=frame["label"],
            x=frame["production"] * 100,
            orientation="h",
            name="recent decisions",
            marker_color="#E4572E",
        )
    )
    fig.update_layout(
        title="How much each input moves the score (average, in points)",
        barmode="group",
        yaxis=dict(autorange="reversed"),
        **{**_LAYOUT, "height": 140 + 40 * len(frame), "hovermode": "closest"},
    )
    return fig


def rank_over_time(ranks: pd.DataFrame, labels: dict[str, str]) -> go.Figure:
    """Each input's rank of influence per window (1 = most influential)."""
    fig = go.Figure()
    for feature, part in ranks.groupby("feature"):
        fig.add_trace(
            go.Scatter(
                x=part["window_start"],
                y=part["rank"],
                mode="lines+markers",
                name=labels.get(feature, feature),
            )
        )
    fig.update_layout(
        title="What drives the model, week by week (1 = strongest)",
        yaxis=dict(autorange="reversed", dtick=1),
        **_LAYOUT,
    )
    return fig


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
    """Value per period over time: measured on outcomes, or estimated where they are missing."""
    fig = go.Figure()
    realized = windows["realized_value_per_decision"].notna()
    colors = ["#2E86AB" if r else "#9DB4CF" for r in realized]
    fig.add_trace(
        go.Bar(
            **_spanning_periods(windows),
            y=windows["value_per_period"],
            marker_color=colors,
            marker_line=dict(color="white", width=1),
            name="value per period",
            customdata=["measured" if r else "estimated" for r in realized],
            hovertemplate="%{x|%Y-%m-%d}: %{y:,.0f} " + unit + " (%{customdata})<extra></extra>",
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
        title="Value per period (light bars: estimated, outcomes not in yet)",
        yaxis_title=unit,
        **_LAYOUT,
    )
    return fig


def value_curve(curve: pd.DataFrame, threshold: float, chosen: float, unit: str) -> go.Figure:
    """Value per decision for every threshold, the current one and the one being tried."""
    best = curve.loc[curve["value_per_decision"].idxmax()]
    fig = go.Figure(
        go.Scatter(
            x=curve["threshold"],
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
            x=[best["threshold"]],
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
        xaxis_title="threshold",
        yaxis_title=f"{unit} per decision",
        **{**_LAYOUT, "hovermode": "x"},
    )
    return fig


def kpi_over_time(windows: pd.DataFrame, unit: str) -> go.Figure:
    """Realized and estimated value per decision per period, with the estimate's band."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=windows["window_start"],
            y=windows["estimated_upper"],
            mode="lines",
            line=dict(width=0),
            showlegend=False,
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=windows["window_start"],
            y=windows["estimated_lower"],
            mode="lines",
            line=dict(width=0),
            fill="tonexty",
            fillcolor="rgba(76,120,168,0.15)",
            name="estimate's range",
        )
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
        **_LAYOUT,
    )
    return fig
