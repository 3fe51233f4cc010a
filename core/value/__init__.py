"""Model metrics in money: business case, value per decision, champion vs challenger, overview."""

__all__ = [
    "business_case",
    "champion",
    "kpi",
    "overview",
]
