"""A log location is a folder, given as a path or a file:// URL; anything else is refused
in one line that says what to give instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.logfiles import LogLocation


def test_a_folder_path_and_its_file_url_name_the_same_location(tmp_path: Path) -> None:
    folder = tmp_path / "logs dir"
    folder.mkdir()

    by_path = LogLocation.parse(str(folder))
    by_url = LogLocation.parse(folder.as_uri())

    assert by_path == by_url == LogLocation(folder)
    assert by_path.url == folder.as_uri()
    assert "logs%20dir" in by_path.url


def test_a_missing_folder_is_created_only_when_asked(tmp_path: Path) -> None:
    wanted = tmp_path / "a" / "b"

    with pytest.raises(InvalidInput, match="does not exist; create the folder"):
        LogLocation.parse(str(wanted))
    assert not wanted.exists()

    assert LogLocation.parse(f"file://{wanted}", create=True).root == wanted
    assert wanted.is_dir()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gs://bucket/logs", r"gs:// object stores are not supported yet"),
        ("ftp://host/logs", "ftp:// is not a kind of location we know"),
        ("file://otherhost/logs", "names another machine"),
        ("  ", "the log location is empty"),
    ],
)
def test_locations_that_are_not_folders_here_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        LogLocation.parse(text, create=True)


def test_a_file_is_not_a_location(tmp_path: Path) -> None:
    (tmp_path / "store.duckdb").write_bytes(b"x")

    with pytest.raises(InvalidInput, match="is a file; give a folder"):
        LogLocation.parse(str(tmp_path / "store.duckdb"), create=True)


def test_catalog_paths_cannot_leave_the_location(tmp_path: Path) -> None:
    location = LogLocation(tmp_path)

    inside = "kind=label/model=1/b.parquet"
    assert location.path_of(inside) == tmp_path / inside
    for escaping in ("../x.parquet", "/etc/passwd", "kind=label/../../x"):
        with pytest.raises(ValueError, match="not a path inside"):
            location.path_of(escaping)
