"""Prediction logs, labels and reference rows as Parquet files under a log location.

A worker validates a file in embedded DuckDB and writes the accepted rows with write_files
(nothing visible yet); the catalog transaction that records the batch adds the rows
commit_rows gives (LogFile), which makes them visible at once; readers build a view of the
committed files with committed_view; clean_orphans removes what crashed batches left.
"""

from core.logfiles.cleaning import clean_orphans
from core.logfiles.committing import DEFAULT_GRACE_SECONDS, LogFile, StaleBatch, commit_rows
from core.logfiles.location import LogLocation
from core.logfiles.object_store import ObjectFolder
from core.logfiles.reading import committed_view
from core.logfiles.writing import PARTITIONS, WrittenFile, partition_folder, write_files

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "PARTITIONS",
    "LogFile",
    "LogLocation",
    "ObjectFolder",
    "StaleBatch",
    "WrittenFile",
    "clean_orphans",
    "commit_rows",
    "committed_view",
    "partition_folder",
    "write_files",
]
