"""The version every page opens on, and the versions that may challenge it in money."""

from __future__ import annotations

import pandas as pd

from core.ingest import ingest_predictions
from core.registry import (
    RegistrationSpec,
    challenger_versions,
    get_model,
    get_version,
    opening_version,
    register_version,
)
from core.store import Store
from tests.factories import Case


def set_stage(store: Store, version: int, stage: str) -> None:
    """Put version VERSION of 'credit' in STAGE, as the workflow would have."""
    with store.write() as w:
        found = get_version(w, model=get_model(w, name="credit"), version=version)
        found.stage = stage
        w.session.add(found)


def register(store: Store, case: Case, *, model_file: bool = True) -> None:
    """Register one more version of 'credit' (with the model file unless told not to)."""
    register_version(
        store,
        spec=RegistrationSpec(
            model="credit",
            reference=case.reference,
            target="defaulted",
            prediction="score",
            model_file=case.model_file if model_file else None,
        ),
    )


def test_the_pages_show_the_version_that_logged_traffic_until_the_newest_one_does(
    tmp_path, binary_files: Case
) -> None:
    store = Store(tmp_path / "store.duckdb")
    store.init()
    for _ in range(2):
        register_version(
            store,
            spec=RegistrationSpec(
                model="credit",
                reference=binary_files.reference,
                target="defaulted",
                prediction="score",
            ),
        )
    ingest_predictions(store, model="credit", version=1, files=[binary_files.logs])

    with store.read() as r:
        before = opening_version(r, model=get_model(r, name="credit"))
    logs_v2 = tmp_path / "v2.csv"
    frame = pd.read_parquet(binary_files.logs)
    frame.assign(request_id="v2-" + frame["request_id"]).head(50).to_csv(logs_v2, index=False)
    ingest_predictions(store, model="credit", version=2, files=[logs_v2])
    with store.read() as r:
        after = opening_version(r, model=get_model(r, name="credit"))

    assert (before.version.version, before.live) == (1, False)
    assert before.caption == (
        "v2 is the newest but has logged no decisions yet; showing v1 (registered), which "
        "logged the latest ones."
    )
    assert (after.version.version, after.caption) == (
        2,
        "No version is live yet: none has been promoted to production. Showing the newest, "
        "v2 (registered).",
    )


def test_the_pages_open_on_the_live_version_once_it_has_logged_traffic(
    credit_store: Store, binary_files: Case
) -> None:
    register(credit_store, binary_files)
    set_stage(credit_store, 2, "production")
    ingest_predictions(credit_store, model="credit", version=2, files=[binary_files.logs])

    with credit_store.read() as r:
        opened = opening_version(r, model=get_model(r, name="credit"))

    assert (opened.version.version, opened.live) == (2, True)
    assert opened.caption == "Live version: v2 (production)"


def test_a_just_promoted_version_opens_on_the_one_that_logged_the_latest_traffic(
    credit_store: Store, binary_files: Case
) -> None:
    ingest_predictions(credit_store, model="credit", version=1, files=[binary_files.logs])
    register(credit_store, binary_files)
    set_stage(credit_store, 1, "archived")
    set_stage(credit_store, 2, "production")

    with credit_store.read() as r:
        opened = opening_version(r, model=get_model(r, name="credit"))

    assert (opened.version.version, opened.live) == (1, False)
    assert opened.caption == (
        "v2 is live but has logged no decisions yet; showing v1 (archived), which logged the "
        "latest ones."
    )


def test_challengers_are_the_other_versions_with_a_model_file_still_in_play(
    credit_store: Store, binary_files: Case
) -> None:
    register(credit_store, binary_files)  # v2
    register(credit_store, binary_files, model_file=False)  # v3: nothing to score with
    for _ in range(3):
        register(credit_store, binary_files)  # v4, v5, v6
    set_stage(credit_store, 1, "production")
    set_stage(credit_store, 4, "rejected")
    set_stage(credit_store, 5, "archived")
    set_stage(credit_store, 6, "in_review")

    with credit_store.read() as r:
        model = get_model(r, name="credit")
        of_live = challenger_versions(
            r, model=model, champion=get_version(r, model=model, version=1)
        )
        of_v6 = challenger_versions(r, model=model, champion=get_version(r, model=model, version=6))

    assert [v.version for v in of_live] == [6, 2]
    assert [v.version for v in of_v6] == [2, 1]
