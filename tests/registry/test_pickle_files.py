"""Pickle/joblib model files: refused by default, converted to skops in a worker process when an
admin allowed them, and never loaded in ModelBridge's own process."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from core import audit, users
from core.auth import Identity
from core.errors import InvalidInput, PermissionDenied
from core.registry import (
    RegistrationSpec,
    get_model,
    get_version,
    list_models,
    pickle_files,
    register_version,
)
from core.registry.artifacts import load_model, model_file
from core.store import Store
from tests.conftest import in_process_cli
from tests.factories import ADMIN, FEATURES, Case, kept_model_files

ENGINEER = Identity("erin", "ml_engineer")


class _RunsCodeWhenLoaded:
    """Unpickling this writes the loading process's id to MARKER: what an attacker's file does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        code = f"import os; open({str(self.marker)!r}, 'w').write(str(os.getpid()))"
        return (exec, (code,))


class HomeMadeClassifier(LogisticRegression):
    """Defined in a test module, so outside the skops allow-list."""


def _spec(reference: Path, model_file: Path) -> RegistrationSpec:
    return RegistrationSpec(
        model="credit",
        reference=reference,
        target="defaulted",
        prediction="score",
        model_file=model_file,
        created_by="ci",
    )


def _evil_file(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "code-ran"
    joblib.dump(_RunsCodeWhenLoaded(marker), tmp_path / "evil.pkl")
    return tmp_path / "evil.pkl", marker


def _nothing_registered(store: Store) -> None:
    with store.read() as r:
        assert list_models(r) == []
    assert kept_model_files(store) == {}


def test_a_pickle_file_is_refused_by_default_and_never_loaded(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    evil, marker = _evil_file(tmp_path)

    for by in (None, ENGINEER, ADMIN):
        with pytest.raises(InvalidInput) as refused:
            register_version(store, spec=_spec(binary_files.reference, evil), by=by)
        assert str(refused.value).startswith(
            f"{evil}: pickle/joblib files can run any code when loaded, and this store refuses "
            "them; save the model with skops instead"
        )
        assert "modelbridge pickle-files allow --user ADMIN" in str(refused.value)

    assert not marker.exists()
    _nothing_registered(store)


def test_where_pickles_are_allowed_only_a_signed_in_engineer_or_admin_may_register_one(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    pickle_files.set_allowed(store, allow=True, by=ADMIN)
    joblib.dump(binary_files.model, tmp_path / "model.joblib")

    with pytest.raises(PermissionDenied) as refused:
        register_version(store, spec=_spec(binary_files.reference, tmp_path / "model.joblib"))

    assert "accepted only from a signed-in ML engineer or admin" in str(refused.value)
    _nothing_registered(store)


def test_a_pickle_is_kept_as_skops_converted_in_another_process_with_a_warning_and_an_event(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    pickle_files.set_allowed(store, allow=True, by=ADMIN)
    source = tmp_path / "model.joblib"
    joblib.dump(binary_files.model, source)

    registered = register_version(store, spec=_spec(binary_files.reference, source), by=ENGINEER)

    with store.read() as r:
        version = get_version(r, model=get_model(r, name="credit"))
    assert version.artifact_format == "skops"
    assert Path(version.artifact_path).suffix == ".skops"
    assert [Path(name).suffix for name in kept_model_files(store)] == [".skops"]
    features = binary_files.frame[FEATURES]
    loaded = load_model(
        model_file(version.artifact_path, sha256=version.artifact_sha256),
        expected_sha256=version.artifact_sha256,
    )
    np.testing.assert_array_equal(
        loaded.predict_proba(features), binary_files.model.predict_proba(features)
    )
    assert any("is a pickle file: it was loaded once, in a separate process" in warning
               for warning in registered.warnings)  # fmt: skip
    assert _events(store, "pickle_file_converted") == [
        (
            "erin",
            {"format": "joblib", "sha256": pickle_files_sha(source)},
            {"format": "skops", "sha256": version.artifact_sha256},
        )
    ]


def pickle_files_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _events(store: Store, action: str) -> list[tuple[str, object, object]]:
    """(actor, before, after) of the store's events of ACTION, oldest first."""
    with store.read() as r:
        found = audit.events(r, action=action).iloc[::-1]
    return [(e.actor, json.loads(e.before), json.loads(e.after)) for e in found.itertuples()]


def test_an_allowed_pickle_runs_its_code_only_in_the_worker_process_and_is_refused(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    pickle_files.set_allowed(store, allow=True, by=ADMIN)
    evil, marker = _evil_file(tmp_path)

    with pytest.raises(InvalidInput) as refused:
        register_version(store, spec=_spec(binary_files.reference, evil), by=ENGINEER)

    assert str(refused.value) == f"{evil}: holds a NoneType, not a model with a predict() method"
    assert int(marker.read_text()) != os.getpid()  # it ran, but in the worker, not here
    _nothing_registered(store)


def test_an_allowed_pickle_of_a_class_outside_the_allow_list_is_refused(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    pickle_files.set_allowed(store, allow=True, by=ADMIN)
    frame = pd.read_csv(binary_files.reference)
    joblib.dump(
        HomeMadeClassifier().fit(frame[FEATURES[:2]], frame["defaulted"]),
        tmp_path / "home_made.joblib",
    )

    with pytest.raises(InvalidInput) as refused:
        register_version(
            store, spec=_spec(binary_files.reference, tmp_path / "home_made.joblib"), by=ENGINEER
        )

    assert "refused, it contains types outside the allow-list" in str(refused.value)
    assert "tests.registry.test_pickle_files.HomeMadeClassifier" in str(refused.value)
    _nothing_registered(store)


def test_a_joblib_file_registered_before_the_rule_is_loaded_in_a_worker_not_here(
    tmp_path: Path,
) -> None:
    evil, marker = _evil_file(tmp_path)

    with pytest.raises(InvalidInput) as refused:
        load_model(evil, expected_sha256=pickle_files_sha(evil))

    assert "holds a NoneType, not a model with a predict() method" in str(refused.value)
    assert int(marker.read_text()) != os.getpid()


def test_only_an_admin_allows_pickle_files_and_the_cli_says_which_rule_holds(
    store: Store,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    users.first_admin(store, username="root", password="root-password-1")
    users.add_user(store, username="erin", role="ml_engineer", password="erin-pass-1", by=ADMIN)
    cli = in_process_cli(
        store, {"root": "root-password-1", "erin": "erin-pass-1"}, capsys, monkeypatch
    )

    shown = cli("pickle-files", "show", "--json")
    by_engineer = cli("pickle-files", "allow", user="erin")
    still = cli("pickle-files", "show", "--json")
    by_admin = cli("pickle-files", "allow", user="root")

    assert shown.json() == {"pickle_files": "refused"}
    assert (by_engineer.code, by_engineer.err) == (
        2,
        "modelbridge: error: erin (ML engineer) may not manage store settings; that needs "
        "Administrator\n",
    )
    assert still.json() == {"pickle_files": "refused"}
    assert by_admin.code == 0
    assert by_admin.out.startswith("pickle/joblib model files: allowed from signed-in ML")
    with store.read() as r:
        assert pickle_files.allowed(r)
    assert _events(store, "pickle_files_allowed") == [
        ("root", {"pickle_files": "refused"}, {"pickle_files": "allowed"})
    ]


def test_a_skops_file_still_registers_without_signing_in(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    sio.dump(binary_files.model, tmp_path / "model.skops")

    registered = register_version(
        store, spec=_spec(binary_files.reference, tmp_path / "model.skops")
    )

    assert registered.version == 1
    assert registered.warnings == []
