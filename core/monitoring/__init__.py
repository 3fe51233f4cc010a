"""Live traffic watched: drift, performance, data quality, latency, alerts, per-model policy."""

__all__ = [
    "alert_list",
    "alert_words",
    "alerts",
    "class_performance",
    "data_quality",
    "drift",
    "drift_reference",
    "drift_report",
    "drift_thresholds",
    "histograms",
    "multivariate",
    "performance",
    "performance_statistics",
    "policy",
    "regression_estimate",
    "stored_days",
    "traffic",
    "webhooks",
    "windows",
]
