"""Build the demo store: a credit-risk scenario (binary) and a support-ticket triage scenario
(multiclass), loaded only through ModelBridge's public API.

The simulators write files as a bank's and a help desk's pipelines would (reference sets, model
files, daily or weekly log files, weekly label files); this module registers, ingests and
promotes them exactly as the `modelbridge` CLI does, so the demo exercises the real paths.
"""

from __future__ import annotations

import hashlib
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
from core.settings import cache_folder
from core.store import Store, TeamStore
from core.value import business_case
from data.demo_progress import DemoProgress, FileProgress
from data.simulator import simulate
from data.triage import TriageFiles, simulate_triage, tickets_per_day

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

CLASS_MODEL = "ticket-triage"
TEAMS = ("account", "billing", "delivery", "technical")
# Routing a ticket straight to a team is worth, against a dispatcher reading it first, the
# dispatcher's 2.40 EUR a ticket when the team is right; a wrong team bounces the ticket, and an
# account ticket (locked out, maybe fraud) or a billing one (a payment failing) that waits costs
# far more than a delivery question.
RIGHT_TEAM = 2.4
WRONG_TEAM = {"account": -6.0, "billing": -4.0, "delivery": -1.0, "technical": -2.0}
CLASS_BUSINESS_CASE: dict[str, Any] = {
    "decision": "Send each support ticket straight to the team the model names, instead of "
    "having a dispatcher read it first.",
    "unit": "EUR",
    "period": "M",
    "volume_per_period": 12_500,
    "target": 11_000,
    "baseline": "every ticket routed by a dispatcher",
    "baseline_value": 0,
    **{
        f"value:{actual}:{decided}": RIGHT_TEAM if actual == decided else WRONG_TEAM[actual]
        for actual in TEAMS
        for decided in TEAMS
    },
}
_CLASS_DESCRIPTION = (
    "Which team should answer a support ticket: account, billing, delivery or technical. "
    "Tickets go straight to the team it names."
)


def build_demo(
    store: Store,
    *,
    days: int = 120,
    seed: int = 7,
    per_day: int = 1700,
    tickets: int | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Create the demo store (refusing to touch a store that already holds models or users:
    the demo's users all have the password 'demo', which would replace a real one). PER_DAY
    credit applications a day, and TICKETS support tickets (default: a quarter as many)."""
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
        # The tickets are simulated while the credit logs load (DuckDB's work, mostly outside
        # Python's lock); their own random streams keep them the same either way.
        tickets = background.submit(
            simulate_triage,
            folder / "triage",
            days=days,
            seed=seed,
            per_day=tickets or tickets_per_day(per_day),
        )
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
            _promote(store, MODEL, 1)
        predictions = _load(
            store,
            MODEL,
            files.log_files,
            ingest_predictions,
            progress.files("prediction logs", files.log_files),
        )
        labels = _load(
            store,
            MODEL,
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
        _check_and_review(store, MODEL, progress)
        with progress.step(f"Simulating {days} days of support tickets"):
            triage = tickets.result()
        counted = _build_triage(store, triage, progress)
        _check_and_review(store, CLASS_MODEL, progress)
        truth_file = truth_path(store)
        truth_file.write_text(files.truth.read_text())
        class_truth = class_truth_path(store)
        class_truth.write_text(triage.truth.read_text())
    return {
        "db": store.location,
        "model": MODEL,
        "models": [MODEL, CLASS_MODEL],
        "predictions": predictions + counted["predictions"],
        "labels": labels + counted["labels"],
        "users": list(DEMO_USERS),
        "truth": str(truth_file),
        "class_truth": str(class_truth),
        "files": str(folder),
    }


def _check_and_review(store: Store, model: str, progress: DemoProgress) -> None:
    """Count a team store's days, open MODEL's alerts and put its v2 in review."""
    name = "" if model == MODEL else f" of {model}"
    if store.keeps_day_counts:
        from core.aggregates import refresh_day_counts  # Ibis: a team store's only

        with progress.step(f"Counting each day's logs{name} for the dashboard (team store)"):
            refresh_day_counts(store, model=model)
    with progress.step(f"Checking drift and performance alerts{name}"):
        alerts.refresh(store, model=model)
    with progress.step(f"Putting the challenger{name} in review (release gates)"):
        workflow.request_review(store, model=model, version=2, by=ENGINEER)


def _build_triage(store: Store, files: TriageFiles, progress: DemoProgress) -> dict[str, int]:
    """Register the ticket-triage model (v1 live, priced by its value matrix), load its
    tickets and outcomes, and register v2, retrained after the concept change."""
    with progress.step(f"Registering {CLASS_MODEL} (v1, multiclass) and promoting it"):
        _register_classes(
            store, files.champion_reference, files.champion_model, "triage-v1", _CLASS_DESCRIPTION
        )
        business_case.save(store, model=CLASS_MODEL, changes=CLASS_BUSINESS_CASE, by=OWNER)
        _promote(store, CLASS_MODEL, 1)
    counted = {
        "predictions": _load(
            store,
            CLASS_MODEL,
            files.log_files,
            ingest_predictions,
            progress.files("ticket logs", files.log_files),
        ),
        "labels": _load(
            store,
            CLASS_MODEL,
            files.label_files,
            ingest_labels,
            progress.files("resolved-ticket files", files.label_files),
        ),
    }
    with progress.step(f"Registering {CLASS_MODEL} v2"):
        _register_classes(
            store,
            files.challenger_reference,
            files.challenger_model,
            "triage-v2",
            "Retrained on tickets resolved after the new checkout",
        )
    return counted


def files_path(store: Store) -> Path:
    """Where the demo keeps the files it registered and ingested (reference sets, model files,
    daily logs, weekly labels)."""
    if isinstance(store, TeamStore):
        return _team_folder(store) / "demo-files"
    return store.path.with_name(store.path.stem + ".demo-files")


def truth_path(store: Store) -> Path:
    """Where the demo records what the simulator injected (drift dates, features, dirt)."""
    if isinstance(store, TeamStore):
        return _team_folder(store) / "demo.truth.json"
    return store.path.with_name(store.path.stem + ".truth.json")


def _team_folder(store: TeamStore) -> Path:
    """The log location's folder; for a bucket, whose files cannot be opened as paths, a
    folder of this machine's cache named after the catalog."""
    logs = store.logs
    if logs.remote is None:
        return logs.folder
    return cache_folder() / "demo" / hashlib.sha256(store.location.encode()).hexdigest()[:16]


def class_truth_path(store: Store) -> Path:
    """Where the demo records what the ticket-triage simulator injected."""
    return truth_path(store).with_name(truth_path(store).name.replace(".truth", ".triage.truth"))


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


def _register_classes(
    store: Store, reference: Path, model_file: Path, git_sha: str, description: str
) -> None:
    done = register_version(
        store,
        spec=RegistrationSpec(
            model=CLASS_MODEL,
            reference=reference,
            target="team",
            prediction="predicted",
            timestamp="timestamp",
            id_column="request_id",
            task="multiclass",
            proba_prefix="p_",
            model_file=model_file,
            git_sha=git_sha,
            description=description,
            created_by="engineer",
            feature_metadata=reference.with_name("triage_words.json"),
        ),
    )
    calibrate_version(store, model=done.model, version=done.version)


ENGINEER = auth.Identity("engineer", "ml_engineer")
OWNER = auth.Identity("owner", "product_owner")


_APPROVED_BECAUSE = {
    MODEL: "Validated on the 2025 book; beats manual review on cost.",
    CLASS_MODEL: "Routes three tickets in four right on the spring tickets; cheaper than a "
    "dispatcher.",
}


def _promote(store: Store, model: str, version: int) -> None:
    workflow.request_review(store, model=model, version=version, by=ENGINEER)
    workflow.sign(
        store,
        model=model,
        version=version,
        by=OWNER,
        decision="approve",
        comment=_APPROVED_BECAUSE[model],
    )
    workflow.promote(store, model=model, version=version, by=OWNER)


def _add_users(store: Store) -> None:
    admin = users.first_admin(store, username="admin", password=DEMO_PASSWORD)
    for username, role in DEMO_USERS.items():
        if username != admin.username:
            users.add_user(store, username=username, role=role, password=DEMO_PASSWORD, by=admin)


def _load(store: Store, model: str, paths: list[Path], ingest: Any, progress: FileProgress) -> int:
    # One call for all files: one ingest job, so the model is looked up once, not per file.
    results = ingest(store, model=model, files=paths, progress=progress)
    for result in results:
        if result.error:
            raise RuntimeError(f"demo file rejected: {result.error}")
    return sum(result.rows_ingested for result in results)
