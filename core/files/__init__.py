"""Users' files: reading CSV, Parquet, JSON Lines, gzip and standard input into DuckDB as
received, and writing CSV exports that are safe to open in a spreadsheet."""

__all__ = [
    "exports",
    "loading",
    "sources",
]
