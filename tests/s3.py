"""A throwaway S3-compatible server for the object-store tests: moto's S3 server in its own
process, on 127.0.0.1 at a free port, stopped at the end of the test session.

No production S3 server (MinIO, Ceph, SeaweedFS) installs from the registries this machine
reaches, so the tests speak real S3 over HTTP (botocore and s3fs, as in production) to the
server that s3fs, pandas and Dask test against themselves.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from tests.postgres import _free_port

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "modelbridge-tests",
    "AWS_SECRET_ACCESS_KEY": "modelbridge-tests-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


class Server:
    """A running server: `environment` is what a process needs to reach it, `bucket()` makes
    a new empty bucket."""

    def __init__(self, port: int) -> None:
        self.endpoint = f"http://127.0.0.1:{port}"

    @property
    def environment(self) -> dict[str, str]:
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def bucket(self) -> str:
        """A new, empty bucket's name."""
        import boto3

        name = f"mb-{uuid.uuid4().hex[:16]}"
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        )
        client.create_bucket(Bucket=name)
        return name


@contextmanager
def running() -> Iterator[Server]:
    """Start the server, wait until it answers, and stop it afterwards."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **CREDENTIALS},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.2)
        yield Server(port)
    finally:
        process.terminate()
        process.wait(timeout=30)
