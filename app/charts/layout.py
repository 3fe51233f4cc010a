"""What every figure shares: margins and height, and where a period's value is drawn."""

from __future__ import annotations

import plotly.graph_objects as go

LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), height=320, hovermode="x unified")
PERIOD_MS = {"D": 86_400_000, "W": 7 * 86_400_000}


def per_period(period: str) -> dict:
    """Draw a value stamped with its period's first instant in the middle of that period.

    Plotly centres a bar, a point or a heatmap cell on its x: a day stamped at midnight would
    be drawn from noon the day before to noon, half in the wrong day.
    """
    hover = "week of %d %b %Y" if period == "W" else "%a %d %b %Y"
    return dict(xperiod=PERIOD_MS[period], xperiodalignment="middle", xhoverformat=hover)


def add_band(fig: go.Figure, x, lower, upper, name: str) -> None:
    """A shaded range between two series (drawn as an invisible upper edge, filled to lower)."""
    edge = dict(x=x, mode="lines", line=dict(width=0))
    fig.add_trace(go.Scatter(y=upper, showlegend=False, hoverinfo="skip", **edge))
    fig.add_trace(
        go.Scatter(y=lower, fill="tonexty", fillcolor="rgba(76,120,168,0.15)", name=name, **edge)
    )
