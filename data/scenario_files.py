"""Writing a simulated scenario's files: byte-stable model files, CSV and JSON as a pipeline
would write them, and clearing a folder of an earlier run's files."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import skops.io as sio

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _renumber(node: object, ids: dict[str, str]) -> object:
    """Copy of a skops schema with object ids and array file names replaced by a counter."""
    if isinstance(node, list):
        return [_renumber(item, ids) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "__id__":
            value = int(ids.setdefault(str(value), str(len(ids))))
        elif key == "file":
            stem, suffix = value.rsplit(".", 1)
            value = f"{ids.setdefault(stem, str(len(ids)))}.{suffix}"
        out[key] = _renumber(value, ids)
    return out


def dump_model(model: object, path: Path) -> None:
    """Save with skops, byte-stable so the same scenario always yields the same model hash."""
    # skops names objects and array files after id(obj), which differs per process, and
    # stamps zip entries with the wall clock: renumber the ids and pin the dates.
    with zipfile.ZipFile(io.BytesIO(sio.dumps(model))) as source:
        schema = json.loads(source.read("schema.json"))
        blobs = {name: source.read(name) for name in source.namelist() if name != "schema.json"}
    ids: dict[str, str] = {}
    # Compact JSON: with an indent, json encodes in pure Python, seconds for two forests.
    entries = {"schema.json": json.dumps(_renumber(schema, ids), separators=(",", ":")).encode()}
    for name, data in blobs.items():
        stem, suffix = name.rsplit(".", 1)
        entries[f"{ids[stem]}.{suffix}"] = data
    with zipfile.ZipFile(path, "w") as target:
        for name in sorted(entries):
            target.writestr(zipfile.ZipInfo(name, date_time=ZIP_EPOCH), entries[name])


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV with ISO 8601 'Z' timestamps and Unix newlines."""
    frame = frame.copy()
    if "timestamp" in frame:
        frame["timestamp"] = frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    frame.to_csv(path, index=False, lineterminator="\n")


def clear(folder: Path, pattern: str) -> None:
    """Remove our own files from an earlier run: a longer scenario would leave extra days."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(pattern):
        stale.unlink()


def write_json(data: dict, path: Path) -> None:
    """JSON as people read it: indented, UTF-8, a final newline."""
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
