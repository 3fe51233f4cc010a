"""Prediction logs and late labels in: validated, atomic per file, rejected rows quarantined."""

from core.ingest.batches import BatchResult
from core.ingest.jobs import (
    INGEST_BUDGETS,
    Job,
    Progress,
    ingest_labels,
    ingest_predictions,
    label_job,
    prediction_job,
)
from core.ingest.validation import MAX_REQUEST_ID

__all__ = [
    "BatchResult",
    "INGEST_BUDGETS",
    "MAX_REQUEST_ID",
    "Progress",
    "prediction_job",
    "label_job",
    "ingest_predictions",
    "ingest_labels",
    "Job",
    "quarantine",
]
