"""Build the demo store: a credit-risk scenario loaded only through ModelBridge's public API.

The simulator writes files as a bank's pipeline would (reference sets, model files, daily log
files, weekly label files); this module registers, ingests and promotes them exactly as the
`modelbridge` CLI does, so the demo exercises the real paths.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from core import auth, users, workflow
from core.errors import InvalidInput
from core.ingest import ingest_labels, ingest_predictions
from core.monitoring import alerts
from core.monitoring.drift import calibrate_version
from core.registry import RegistrationSpec, list_models, register_version
from core.store import Store, TeamStore
from core.value import business_case
from data.demo_progress import DemoProgress, FileProgress
from data.simulator import simulate

MODEL = "credit-default"
DEMO_PASSWORD = "demo"
DEMO_USERS = {
    "manager": "manager",
    "expert": "domain_expert",
    "owner": "product_owner",
    "engineer": "ml_engineer",
    "admin": "admin",
}
# What each outcome is worth per application, against approving it automatically: a default
# that slips through loses 2,500 EUR, a good customer earns 300, a manual review costs 150 and
# loses some good customers.
BUSINESS_CASE = {
    "decision": "Send the application to manual review when its default risk is at least the "
    "threshold; approve the rest automatically.",
    "positive_action": "sent to manual review",
    "negative_action": "approved automatically",
    "threshold": 0.12,
    "value_tp": -150,
    "value_fp": 60,
    "value_tn": 300,
    "value_fn": -2500,
    "unit": "EUR",
    "period": "M",
    "volume_per_period": 50000,
    "target": 3000000,
    "baseline": "every application reviewed by hand",
    "baseline_value": 30.6,
}
_DESCRIPTION = (
    "Probability that a loan applicant defaults within 12 months. Applications scoring at or "
    "above the threshold go to manual review."
)


def build_demo(
    store: Store, *, days: int = 120, seed: int = 7, per_day: int = 1700, quiet: bool = False
) -> dict[str, Any]:
    """Create the demo store (refusing to touch a store that already holds models or users:
    the demo's users all have the password 'demo', which would replace a real one)."""
    if days < 14:
        raise InvalidInput("the demo needs at least 14 days of traffic (--days 14 or more)")
    store.init()
    with store.read() as r:
        held = [
            what
            for what, found in (("models", list_models(r)), ("users", users.list_users(r)))
            if found
        ]
    if held:
        raise InvalidInput(
            f"{store.location} already holds {' and '.join(held)}; the demo builds only a new "
            "store: pass another --db for the demo"
        )
    # The scenario's files are kept beside the store, so that the README's examples (register,
    # ingest, labels) have real files to run on.
    folder = files_path(store)
    with (
        DemoProgress(quiet=quiet) as progress,
        ThreadPoolExecutor(max_workers=1) as background,
    ):
        # Password hashing is slow on purpose (argon2, ~0.5 s a user) and needs no scenario
        # file: the users are created while the scenario is simulated.
        created = background.submit(_add_users, store)
        with progress.step(f"Simulating {days} days of credit applications"):
            files = simulate(folder, days=days, seed=seed, per_day=per_day)
        with progress.step(f"Creating the demo users ({', '.join(DEMO_USERS)})"):
            created.result()
        words = folder / "words.json"
        words.write_text(
            json.dumps(
                {
                    "outcome": "default risk",
                    "population": "applicants",
                    "positive_outcome": "defaulted",
                    "features": json.loads(files.feature_metadata.read_text()),
                }
            )
        )
        with progress.step("Registering the champion (v1) and promoting it"):
            _register(
                store,
                files.champion_reference,
                files.champion_model,
                "demo-champion-v1",
                _DESCRIPTION,
                words,
            )
            # Priced before its review, so v1's frozen evidence says what it earns.
            business_case.save(store, model=MODEL, changes=BUSINESS_CASE, by=OWNER)
            _promote(store, 1)
        predictions = _load(
            store,
            files.log_files,
            ingest_predictions,
            progress.files("prediction logs", files.log_files),
        )
        labels = _load(
            store,
            files.label_files,
            ingest_labels,
            progress.files("label files", files.label_files),
        )
        with progress.step("Registering the challenger (v2)"):
            _register(
                store,
                files.challenger_reference,
                files.challenger_model,
                "demo-challenger-v2",
                "Retrained on recent applications, after the shift",
                words,
            )
        if store.keeps_day_counts:
            from core.aggregates import refresh_day_counts  # Ibis: a team store's only

            with progress.step("Counting each day's logs for the dashboard (team store)"):
                refresh_day_counts(store, model=MODEL)
        with progress.step("Checking drift and performance alerts"):
            alerts.refresh(store, model=MODEL)
        with progress.step("Putting the challenger in review (release gates)"):
            workflow.request_review(store, model=MODEL, version=2, by=ENGINEER)
        truth_file = truth_path(store)
        truth_file.write_text(files.truth.read_text())
    return {
        "db": store.location,
        "model": MODEL,
        "predictions": predictions,
        "labels": labels,
        "users": list(DEMO_USERS),
        "truth": str(truth_file),
        "files": str(folder),
    }


def files_path(store: Store) -> Path:
    """Where the demo keeps the files it registered and ingested (reference sets, model files,
    daily logs, weekly labels)."""
    if isinstance(store, TeamStore):
        return store.log_location / "demo-files"
    return store.path.with_name(store.path.stem + ".demo-files")


def truth_path(store: Store) -> Path:
    """Where the demo records what the simulator injected (drift dates, features, dirt)."""
    if isinstance(store, TeamStore):
        return store.log_location / "demo.truth.json"
    return store.path.with_name(store.path.stem + ".truth.json")


def _register(
    store: Store, reference: Path, model_file: Path, git_sha: str, description: str, words: Path
) -> None:
    done = register_version(
        store,
        spec=RegistrationSpec(
            model=MODEL,
            reference=reference,
            target="defaulted",
            prediction="score",
            timestamp="timestamp",
            id_column="request_id",
            positive_label="1",
            model_file=model_file,
            git_sha=git_sha,
            description=description,
            created_by="engineer",
            feature_metadata=words,
        ),
    )
    calibrate_version(store, model=done.model, version=done.version)


ENGINEER = auth.Identity("engineer", "ml_engineer")
OWNER = auth.Identity("owner", "product_owner")


def _promote(store: Store, version: int) -> None:
    workflow.request_review(store, model=MODEL, version=version, by=ENGINEER)
    workflow.sign(
        store,
        model=MODEL,
        version=version,
        by=OWNER,
        decision="approve",
        comment="Validated on the 2025 book; beats manual review on cost.",
    )
    workflow.promote(store, model=MODEL, version=version, by=OWNER)


def _add_users(store: Store) -> None:
    admin = users.first_admin(store, username="admin", password=DEMO_PASSWORD)
    for username, role in DEMO_USERS.items():
        if username != admin.username:
            users.add_user(store, username=username, role=role, password=DEMO_PASSWORD, by=admin)


def _load(store: Store, paths: list[Path], ingest: Any, progress: FileProgress) -> int:
    # One call for all files: one ingest job, so the model is looked up once, not per file.
    results = ingest(store, model=MODEL, files=paths, progress=progress)
    for result in results:
        if result.error:
            raise RuntimeError(f"demo file rejected: {result.error}")
    return sum(result.rows_ingested for result in results)
