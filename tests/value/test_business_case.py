"""The business case: validated values, a new audited revision on every save, role rules."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from core.auth import Identity
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.registry import RegistrationSpec, get_model, register_version
from core.store import AuditEvent, Store
from core.value import business_case
from tests.factories import Case

OWNER = Identity("olga", "product_owner")
ENGINEER = Identity("erin", "ml_engineer")
ADMIN = Identity("ada", "admin")
MANAGER = Identity("max", "manager")
EXPERT = Identity("dora", "domain_expert")


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory, binary_files: Case, regression_files: Case):
    """A store with binary models 'credit' and 'untouched' and a regression model 'loss'
    (shared: tests compare revisions before and after; nobody saves a case for 'untouched')."""
    store = Store(tmp_path_factory.mktemp("business") / "store.duckdb", lock_wait_seconds=10)
    store.init()
    for name in ("credit", "untouched"):
        register_version(store, spec=RegistrationSpec(
            model=name, reference=binary_files.reference, target="defaulted", prediction="score",
        ))  # fmt: skip
    register_version(store, spec=RegistrationSpec(
        model="loss", reference=regression_files.reference, target="loss", prediction="predicted",
        task="regression",
    ))  # fmt: skip
    return store


def _case(store: Store, model: str) -> business_case.BusinessCase:
    with store.read() as r:
        return business_case.current(get_model(r, name=model))


def _events(store: Store, model: str) -> list[AuditEvent]:
    with store.read() as r:
        return list(
            r.session.exec(
                select(AuditEvent)
                .where(AuditEvent.model == model, AuditEvent.action == "business_case")
                .order_by(col(AuditEvent.id))
            ).all()
        )


def test_a_model_without_a_saved_case_has_the_defaults_at_revision_0(cases: Store) -> None:
    fresh = _case(cases, "untouched")
    assert fresh.revision == 0
    assert fresh.values == business_case.DEFAULTS
    with cases.read() as r:
        assert business_case.history(r, model=get_model(r, name="untouched")) == []


def test_each_save_is_a_new_revision_kept_in_the_history(cases: Store) -> None:
    start = _case(cases, "credit").revision

    first = business_case.save(
        cases, model="credit", changes={"threshold": "0.3", "value_fn": "-500"}, by=OWNER
    )
    second = business_case.save(cases, model="credit", changes={"value_tp": 120}, by=ENGINEER)

    assert (first.revision, second.revision) == (start + 1, start + 2)
    assert second["threshold"] == 0.3 and second["value_fn"] == -500.0
    assert second["value_tp"] == 120.0
    assert _case(cases, "credit") == second
    with cases.read() as r:
        history = business_case.history(r, model=get_model(r, name="credit"))
    assert [h.revision for h in history[:2]] == [start + 2, start + 1]
    assert [h.saved_by for h in history[:2]] == ["erin", "olga"]
    assert history[1].case["value_tp"] == first["value_tp"]
    assert history[0].case == second.values


def test_each_save_is_audited_with_who_and_the_case_before_and_after(cases: Store) -> None:
    before = _case(cases, "credit")

    after = business_case.save(cases, model="credit", changes={"unit": " hours "}, by=ADMIN)

    last = _events(cases, "credit")[-1]
    assert (last.actor, last.role, last.action) == ("ada", "admin", "business_case")
    assert last.before_state == before.values
    assert last.after_state == after.values
    assert after["unit"] == "hours"


def test_texts_are_trimmed_the_period_upper_cased_and_blank_optional_numbers_cleared(
    cases: Store,
) -> None:
    saved = business_case.save(
        cases,
        model="credit",
        changes={"period": "w", "decision": "  review  ", "target": "", "baseline_value": None},
        by=OWNER,
    )
    assert (saved["period"], saved["decision"], saved["target"], saved["baseline_value"]) == (
        "W",
        "review",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("model", "changes", "message"),
    [
        ("credit", {"volume_per_period": "-10"}, "the volume per period cannot be negative (-10)"),
        ("credit", {"threshold": "1.5"}, "the threshold is a score between 0 and 1, not 1.5"),
        ("credit", {"threshold": -0.01}, "the threshold is a score between 0 and 1, not -0.01"),
        ("credit", {"colour": "red"}, "unknown business-case key 'colour'; known: threshold, "),
        ("loss", {"value_tp": "10"}, "value_tp applies to binary models; loss is regression"),
        ("loss", {"threshold": "0.5"}, "threshold applies to binary models; loss is regression"),
        ("credit", {"cost_under": "3"}, "cost_under applies to regression models; credit is"),
        ("loss", {"cost_over": "-1"}, "cost_over is a cost per unit of error and cannot be neg"),
        ("credit", {"value_fp": "a lot"}, "value_fp must be a number, not 'a lot'"),
        ("credit", {"value_fp": "nan"}, "value_fp must be a finite number"),
        ("credit", {"value_fp": "inf"}, "value_fp must be a finite number"),
        ("credit", {"value_tn": ""}, "value_tn needs a number"),
        ("credit", {"period": "Q"}, "period must be D, W or M"),
    ],
)
def test_nonsense_is_refused_with_a_clear_message_and_nothing_is_saved(
    cases: Store, model: str, changes: dict, message: str
) -> None:
    before, events = _case(cases, model), len(_events(cases, model))

    with pytest.raises(InvalidInput) as refused:
        business_case.save(cases, model=model, changes={"unit": "EUR", **changes}, by=OWNER)

    assert str(refused.value).startswith(message)
    assert _case(cases, model) == before
    assert len(_events(cases, model)) == events


@pytest.mark.parametrize("who", [MANAGER, EXPERT])
def test_managers_and_domain_experts_cannot_change_the_case(cases: Store, who: Identity) -> None:
    before = _case(cases, "credit")
    with pytest.raises(PermissionDenied, match="may not edit business case; that needs Product"):
        business_case.save(cases, model="credit", changes={"value_tp": "1"}, by=who)
    assert _case(cases, "credit") == before


@pytest.mark.parametrize("who", [OWNER, ENGINEER, ADMIN])
def test_product_owners_ml_engineers_and_admins_can_change_the_case(
    cases: Store, who: Identity
) -> None:
    saved = business_case.save(cases, model="credit", changes={"target": "1000"}, by=who)
    assert saved["target"] == 1000.0
    assert _events(cases, "credit")[-1].actor == who.username


def test_a_regression_case_takes_asymmetric_costs(cases: Store) -> None:
    saved = business_case.save(
        cases, model="loss", changes={"cost_under": "3", "cost_over": "0.5"}, by=OWNER
    )
    assert (saved["cost_under"], saved["cost_over"]) == (3.0, 0.5)


def test_an_unknown_model_is_refused(cases: Store) -> None:
    with pytest.raises(NotFound):
        business_case.save(cases, model="nope", changes={"value_tp": "1"}, by=OWNER)
