"""Users' files: CSV, Parquet, JSON Lines, gzip and stdin read as received; safe CSV exports."""

__all__ = [
    "exports",
    "loading",
    "sources",
]
