"""Live traffic watched: drift, performance, data quality, latency, alerts, per-model policy."""

__all__ = [
    "alert_list",
    "alert_words",
    "alerts",
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
    "traffic",
    "webhooks",
    "windows",
]
