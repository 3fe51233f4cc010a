"""Model metrics in money: business case, value per decision, champion vs challenger, figures."""

__all__ = [
    "business_case",
    "class_champion",
    "class_value",
    "champion",
    "figures",
    "kpi",
    "overview",
    "track_record",
]
