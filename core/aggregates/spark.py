"""The local Spark session the aggregates share: one per process, as its JVM takes 15-40 s to
start."""

from __future__ import annotations

from typing import Any

from core.errors import InvalidInput

# Spark's defaults suit a cluster: 200 shuffle partitions of a few hundred rows each cost more
# in scheduling than the counting they hold on two cores.
LOCAL_SETTINGS = {
    "spark.sql.session.timeZone": "UTC",  # a day is a UTC day, as in the store
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def local_spark_session(*, cores: int = 2, driver_memory: str = "2g") -> Any:
    """The process's Spark session in local mode (created on first use, then shared)."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(f"local[{int(cores)}]")
        .appName("modelbridge")
        .config("spark.driver.memory", driver_memory)
    )
    for key, value in LOCAL_SETTINGS.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def team_spark_session() -> Any:
    """The Spark session a team store's counts run on: the active one (under spark-submit),
    else one on the cluster MODELBRIDGE_SPARK_MASTER names (e.g. spark://host:7077), else
    local mode. Days are UTC days whichever it is."""
    import os

    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    master = os.environ.get("MODELBRIDGE_SPARK_MASTER")
    if session is None and master:
        session = SparkSession.builder.master(master).appName("modelbridge").getOrCreate()
    if session is None:
        session = local_spark_session()
    session.conf.set("spark.sql.session.timeZone", "UTC")
    return session


_S3A = "org.apache.hadoop.fs.s3a.S3AFileSystem"


def spark_address(location: Any, relative: str) -> str:
    """What Spark reads for the log file at RELATIVE under LOCATION (a LogLocation): a local
    path, or for an object store the s3a:// URL of Hadoop's S3 connector."""
    if location.remote is None:
        return str(location.path_of(relative))
    return "s3a://" + location.remote.key(relative)


def require_s3a(session: Any, *, location: str) -> None:
    """InvalidInput unless SESSION can read s3a:// URLs: Hadoop's S3 connector (hadoop-aws and
    the AWS SDK) is not part of PySpark, and is added to the cluster or to spark.jars."""
    try:
        session.sparkContext._jvm.java.lang.Class.forName(_S3A)
    except Exception:  # Py4J raises its own error for a class the JVM cannot find
        raise InvalidInput(
            f"Spark cannot read the log location {location}: Hadoop's S3 connector ({_S3A}) "
            "is not on its class path. Start Spark with the hadoop-aws jar of its Hadoop "
            "version (spark.jars.packages=org.apache.hadoop:hadoop-aws:VERSION) and the "
            "endpoint and credentials in spark.hadoop.fs.s3a.*, or count with --engine duckdb"
        ) from None
