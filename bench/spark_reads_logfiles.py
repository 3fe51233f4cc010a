"""Does Spark read the log files core.logfiles writes, with the same answers as DuckDB?

    uv run python bench/spark_reads_logfiles.py --spark-python /tmp/sparkvenv/bin/python

PySpark is not a dependency of ModelBridge: give the Python of a virtual environment that has
it (`uv venv /tmp/sparkvenv && VIRTUAL_ENV=/tmp/sparkvenv uv pip install "pyspark>=4.0,<4.1"
pandas pyarrow`; Java 17 on the PATH). This writes one committed batch of 1M prediction rows
over 2 versions and 3 days (NaN, NULL, unicode, a timestamp at 23:59:59.999999) and one
uncommitted batch into the same folders, answers a few aggregates with DuckDB over the
committed files, then asks Spark (local[2], session time zone UTC) the same over the same file
list, and over the whole folder to show what a reader that lists files itself would see.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
UNICODE_ID = "Zürich – 東京 🚀"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def write_and_answer(folder: Path) -> dict[str, Any]:
    """Write the batches; DuckDB's answers over the committed files."""
    import duckdb

    from core.logfiles import LogLocation, committed_view, write_files

    location = LogLocation.parse(str(folder), create=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    features = ", ".join(f"(i * {k}) / 7 AS f{k}" for k in range(2, 31))
    con.execute(
        f"CREATE TABLE accepted AS SELECT CASE WHEN i = 0 THEN '{UNICODE_ID}' "
        "ELSE 'r' || i END AS request_id, CAST(1 + i % 2 AS INTEGER) AS version, "
        "CASE i WHEN 1 THEN TIMESTAMP '2026-03-01 23:59:59.999999' ELSE TIMESTAMP '2026-03-01' "
        "+ to_microseconds((i * 7000003) % (3 * 86400000000)) END AS ts, "
        "(i % 100) / 100 AS score, CASE WHEN i % 5 = 0 THEN NULL ELSE i * 1.5 END AS latency_ms, "
        "'b-spark' AS batch_id, NULL::VARCHAR AS extra, CASE i WHEN 2 THEN 'NaN'::DOUBLE "
        f"WHEN 3 THEN 'inf'::DOUBLE WHEN 4 THEN NULL ELSE i + 0.5 END AS f1, {features} "
        "FROM range(1000000) t(i)"
    )
    files = write_files(
        con, location=location, kind="prediction", model_id=1, batch_id="b-spark",
        select_sql="SELECT * FROM accepted",
    )  # fmt: skip
    write_files(
        con, location=location, kind="prediction", model_id=1, batch_id="b-uncommitted",
        select_sql="SELECT * EXCLUDE (f30) FROM accepted LIMIT 1000",
    )  # fmt: skip
    committed_view(
        con, location=location, name="pred", files=[f.path for f in files],
        columns={"request_id": "VARCHAR", "version": "INTEGER", "ts": "TIMESTAMP",
                 "f1": "DOUBLE", "f30": "DOUBLE"},
    )  # fmt: skip
    totals = con.execute(
        "SELECT count(*), count(DISTINCT request_id), sum(f30), CAST(min(ts) AS VARCHAR), "
        "CAST(max(ts) AS VARCHAR), count(*) FILTER (isnan(f1)), count(*) FILTER (f1 IS NULL), "
        f"count(*) FILTER (request_id = '{UNICODE_ID}') FROM pred"
    ).fetchall()[0]
    days = con.execute(
        "SELECT CAST(CAST(ts AS DATE) AS VARCHAR), version, count(*) FROM pred "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    return {
        "paths": [str(location.path_of(f.path)) for f in files],
        "folder": str(folder / "kind=prediction" / "model=1"),
        "duckdb": list(totals),
        "days": [list(d) for d in days],
    }


def spark_answers(info: dict[str, Any]) -> dict[str, Any]:
    """Spark's answers to the same questions (run in the Spark environment)."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    frame = spark.read.parquet(*info["paths"])

    def count_where(condition: Any) -> Any:
        return F.sum(F.when(condition, 1).otherwise(0))

    totals = frame.agg(
        F.count("*"), F.countDistinct("request_id"), F.sum("f30"),
        F.min("ts").cast("string"), F.max("ts").cast("string"),
        count_where(F.isnan("f1")), count_where(F.col("f1").isNull()),
        count_where(F.col("request_id") == UNICODE_ID),
    ).collect()[0]  # fmt: skip
    days = (
        frame.groupBy(F.to_date("ts").cast("string").alias("day"), "version")
        .count()
        .orderBy("day", "version")
        .collect()
    )
    whole_folder = spark.read.parquet(info["folder"])
    answers = {
        "spark_version": spark.version,
        "schema": {f.name: f.dataType.simpleString() for f in frame.schema.fields[:8]},
        "spark": list(totals),
        "days": [list(d) for d in days],
        "whole_folder_rows": whole_folder.count(),
        "whole_folder_partition_columns": [c for c in whole_folder.columns if c == "day"],
    }
    spark.stop()
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spark-python", help="a Python with pyspark installed")
    parser.add_argument("--spark", metavar="INFO_JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.spark:
        print(json.dumps(spark_answers(json.loads(Path(args.spark).read_text()))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        info = write_and_answer(Path(tmp) / "logs")
        info_file = Path(tmp) / "info.json"
        info_file.write_text(json.dumps(info))
        done = subprocess.run(
            [args.spark_python, __file__, "--spark", str(info_file)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        spark = json.loads(done.stdout.strip().splitlines()[-1])
    report = {
        "duckdb": info["duckdb"],
        **spark,
        "same_days": spark["days"] == info["days"],
        "same_totals_but_float_sum": spark["spark"][:2] + spark["spark"][3:]
        == info["duckdb"][:2] + info["duckdb"][3:],
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
