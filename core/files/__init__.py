"""Reading users' files (CSV, Parquet, JSON Lines, gzip, standard input) into DuckDB as received."""

__all__ = [
    "loading",
    "sources",
]
