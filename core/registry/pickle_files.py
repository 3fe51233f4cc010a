"""Pickle and joblib model files: refused unless an admin allows them, then converted to skops.

Unpickling runs whatever code the file names, so such a file is never loaded in ModelBridge's
own process. Where an admin allowed pickle files for the store (audited), a signed-in ML
engineer or admin may register one: a separate worker process loads it once and saves the model
with skops, and the skops file (checked against the allow-list) is what ModelBridge keeps and
loads from then on. A joblib file registered before this rule is loaded the same way, through the
worker, never in the dashboard's or the CLI's own process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core import audit
from core.auth import Identity, require_action
from core.errors import InvalidInput, PermissionDenied
from core.store import Store, Work, get_meta, put_meta

SETTING = "pickle_files"  # a store_meta key: 'allowed' or 'refused' (the default)
WORKER_TIMEOUT_SECONDS = 600.0
_ROOT = Path(__file__).resolve().parents[2]

HOW_TO_SAVE_WITH_SKOPS = (
    "save the model with skops instead: "
    "python -c \"import joblib, skops.io as sio; sio.dump(joblib.load('model.joblib'), "
    "'model.skops')\""
)


def allowed(w: Work) -> bool:
    """Whether an admin allowed pickle files for this store."""
    return get_meta(w, key=SETTING) == "allowed"


def set_allowed(store: Store, *, allow: bool, by: Identity) -> None:
    """Allow or refuse pickle/joblib model files for the whole store (admins; audited)."""
    require_action(by, "manage_store_settings")
    with store.open().write() as w:
        before = allowed(w)
        put_meta(w, key=SETTING, value="allowed" if allow else "refused")
        audit.record(
            w,
            actor=by.username,
            role=by.role,
            action="pickle_files_allowed" if allow else "pickle_files_refused",
            before={"pickle_files": "allowed" if before else "refused"},
            after={"pickle_files": "allowed" if allow else "refused"},
        )


def check_may_register(w: Work, *, by: Identity | None, shown_as: str) -> None:
    """Refuse a pickle file unless the store allows them and a signed-in engineer registers it."""
    if not allowed(w):
        raise InvalidInput(
            f"{shown_as}: pickle/joblib files can run any code when loaded, and this store "
            f"refuses them; {HOW_TO_SAVE_WITH_SKOPS}, or ask an admin to allow pickle files "
            "(modelbridge pickle-files allow --user ADMIN)"
        )
    if by is None or by.role not in ("ml_engineer", "admin"):
        raise PermissionDenied(
            f"{shown_as}: pickle/joblib files are accepted only from a signed-in ML engineer "
            "or admin; register with --user NAME"
        )


@contextmanager
def converted(source: Path, *, shown_as: str) -> Iterator[Path]:
    """SOURCE loaded in a worker process and saved as a skops file, yielded while it exists."""
    with tempfile.TemporaryDirectory(prefix="modelbridge-skops-") as folder:
        target = Path(folder) / "model.skops"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_ROOT), *sys.path[1:]])}
        try:
            done = subprocess.run(
                [sys.executable, "-m", "core.registry.pickle_worker", str(source), str(target)],
                capture_output=True,
                text=True,
                timeout=WORKER_TIMEOUT_SECONDS,
                env=env,
                cwd=folder,
            )
        except subprocess.TimeoutExpired:
            raise InvalidInput(
                f"{shown_as}: loading the pickle file took over {WORKER_TIMEOUT_SECONDS:.0f} s; "
                f"{HOW_TO_SAVE_WITH_SKOPS}"
            ) from None
        if done.returncode != 0 or not target.is_file():
            lines = [x for x in done.stderr.strip().splitlines() if x.strip()]
            why = lines[-1] if lines else f"the worker stopped with code {done.returncode}"
            raise InvalidInput(f"{shown_as}: {why}")
        yield target
