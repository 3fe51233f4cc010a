"""Per-model monitoring settings (latency SLO, drift methods and thresholds, alert rules).

Keys are dotted paths into the model's settings, e.g. `drift.features.income.threshold=0.2`;
every value is checked before anything is written, and each change is audited. Release gates
(`gates.*`) and sign-off rules (`workflow.*`) are read by core.workflow.gates and
core.workflow.rules; what the gates read (`gates.*`, `drift.*`) is guarded while a version is in
review (core.gate_settings).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core import audit, gate_settings
from core.auth import Identity, require_action
from core.errors import InvalidInput
from core.monitoring import traffic_days
from core.monitoring.drift_statistics import METHODS
from core.registry import feature_metadata, features_of, get_model, get_version
from core.store import Model, Store

WATCHABLE = (
    "roc_auc",
    "precision",
    "recall",
    "f1",
    "accuracy",
    "calibration_error",
    "mae",
    "rmse",
    "mape",
)


def _number(value: str) -> float:
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError
    return number


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError
    return number


def _count(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError
    return number


def _period(value: str) -> str:
    if value.upper() not in ("D", "W", "M"):
        raise ValueError
    return value.upper()


def _metrics(value: str) -> list[str]:
    names = [v.strip() for v in str(value).split(",") if v.strip()]
    if not names or any(n not in WATCHABLE for n in names):
        raise ValueError
    return names


def _method_for(kind: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in METHODS or kind not in METHODS[value].kinds:
            raise ValueError
        return value

    return check


def _any_method(value: str) -> str:
    if value not in METHODS:
        raise ValueError
    return value


def _p_value(value: str) -> float:
    number = float(value)
    if not 0 < number < 1:
        raise ValueError
    return number


def _non_negative(value: str) -> float:
    number = float(value)
    if not number >= 0 or number == float("inf"):
        raise ValueError
    return number


def _whole(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError
    return number


def _flag(value: str) -> bool:
    text = str(value).strip().lower()
    if text not in ("true", "false", "yes", "no", "1", "0"):
        raise ValueError
    return text in ("true", "yes", "1")


def _gate_names(value: str) -> list[str]:
    names = [v.strip() for v in str(value).split(",") if v.strip()]
    if not names or any(n not in GATES for n in names):
        raise ValueError
    return names


def _signoffs(value: str) -> dict[str, int]:
    """'product_owner,admin:2' -> {'product_owner': 1, 'admin': 2}."""
    out: dict[str, int] = {}
    for item in str(value).split(","):
        role, _, count = item.strip().partition(":")
        if role not in SIGNING_ROLES or role in out:
            raise ValueError
        out[role] = _count(count) if count else 1
    return out


GATES = ("metrics", "reproduction", "compatibility", "kpi", "drift", "latency", "explanations")
# Only product owners and admins sign off (core.workflow); an ML engineer must not be able to
# configure their own role into the approval.
SIGNING_ROLES = ("product_owner", "admin")

FIXED: dict[str, tuple[Callable[[str], Any], str]] = {
    "latency_slo_ms": (_positive, "a positive number of milliseconds"),
    "alerts.consecutive": (_count, "a whole number of windows, 1 or more"),
    "alerts.period": (_period, "D, W or M"),
    "alerts.metrics": (_metrics, f"a comma-separated list of {', '.join(WATCHABLE)}"),
    "drift.methods.numeric": (_method_for("numeric"), "ks, psi, jensen_shannon or wasserstein"),
    "drift.methods.categorical": (_method_for("categorical"), "psi, jensen_shannon or chi_square"),
    "gates.latency_budget_ms": (_positive, "a positive number of milliseconds"),
    "gates.max_drifted_features": (_whole, "a whole number of inputs, 0 or more"),
    "gates.kpi_tolerance": (_non_negative, "a share of the live version's value, e.g. 0.05"),
    "gates.blocking": (_gate_names, f"a comma-separated list of {', '.join(GATES)}"),
    "workflow.required_signoffs": (
        _signoffs,
        "a comma-separated list of product_owner or admin, each optionally with :N, "
        "e.g. product_owner,admin",
    ),
    "workflow.admins_may_sign": (_flag, "true or false"),
}


def _rule(
    model: Model, key: str, feature_names: set[str], metric_names: set[str]
) -> tuple[Callable[[str], Any], str]:
    if key in FIXED:
        return FIXED[key]
    parts = key.split(".")
    if len(parts) == 3 and parts[:2] == ["gates", "min"]:
        if parts[2] not in metric_names:
            raise InvalidInput(
                f"model {model.name!r} records no metric {parts[2]!r}; "
                f"known: {', '.join(sorted(metric_names))}"
            )
        return _number, "a number"
    if len(parts) == 3 and parts[:2] == ["drift", "thresholds"] and parts[2] in METHODS:
        if not METHODS[parts[2]].higher_is_drift:
            return _p_value, "a significance level between 0 and 1, e.g. 0.01"
        return _positive, "a positive number"
    if len(parts) == 3 and parts[:2] == ["drift", "minimum_effect"]:
        if parts[2] not in METHODS or not METHODS[parts[2]].higher_is_drift:
            distances = [m for m, found in METHODS.items() if found.higher_is_drift]
            raise InvalidInput(
                f"only a distance has a minimum effect; use one of {', '.join(distances)}"
            )
        return _non_negative, "a number, 0 or more"
    if (
        len(parts) >= 4
        and parts[:2] == ["drift", "features"]
        and parts[-1] in ("method", "threshold")
    ):
        feature = ".".join(parts[2:-1])
        if feature not in feature_names:
            raise InvalidInput(f"model {model.name!r} has no feature {feature!r}")
        return (
            (_any_method, "a method name")
            if parts[-1] == "method"
            else (_positive, "a positive number")
        )
    known = [
        *FIXED,
        "drift.thresholds.<method>",
        "drift.minimum_effect.<method>",
        "drift.features.<feature>.method|threshold",
        "gates.min.<metric>",
    ]
    raise InvalidInput(f"unknown setting {key!r}; known: {', '.join(known)}")


POLICY_PREFIXES = ("gates.", "workflow.")


def _action_for(key: str) -> str:
    """The action a change of KEY needs: approval policy (gates, sign-offs) or monitoring."""
    return "edit_approval_policy" if key.startswith(POLICY_PREFIXES) else "edit_model_settings"


def _put(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    if parts[:2] == ["drift", "features"]:
        parts = ["drift", "features", ".".join(parts[2:-1]), parts[-1]]
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def update_settings(store: Store, *, model: str, changes: dict[str, Any], by: Identity) -> Model:
    """Check and apply dotted-key changes to a model's settings, audited as one event."""
    for action in sorted({_action_for(key) for key in changes}):
        require_action(by, action)
    with store.open().write() as w:
        entry = get_model(w, name=model)
        w.serialise(f"model:{entry.name}")
        version = get_version(w, model=entry)
        names = {f.name for f in features_of(version)}
        clean = {}
        for key, raw in changes.items():
            parse, what = _rule(entry, key, names, set(version.metrics))
            try:
                clean[key] = parse(raw)
            except (TypeError, ValueError):
                raise InvalidInput(f"{key} must be {what}, not {raw!r}") from None
        before = entry.settings
        after = _deep_copy(before)
        for key, value in clean.items():
            _put(after, key, value)
        entry.settings = after
        w.session.add(entry)
        if w.space is not None and after.get("latency_slo_ms") != before.get("latency_slo_ms"):
            # A team store's day counts hold the share over the old SLO: count them again.
            assert entry.id is not None
            traffic_days.days_wait_again(w, model_id=entry.id)
        audit.record(
            w,
            actor=by.username,
            role=by.role,
            action="model_settings",
            model=model,
            before=before,
            after=after,
        )
        gate_settings.guard_change(w, model=entry, before=before, after=after, by=by)
    return entry


def _deep_copy(tree: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in tree.items()}


def update_feature_metadata(
    store: Store, *, model: str, version: int, meta: dict[str, Any], by: Identity
) -> None:
    """Replace a version's feature metadata (ML engineers and admins; audited)."""
    require_action(by, "edit_model_settings")
    with store.open().write() as w:
        entry = get_model(w, name=model)
        w.serialise(f"model:{entry.name}")
        target = get_version(w, model=entry, version=version)
        tidy = feature_metadata.clean(meta, [f.name for f in features_of(target)])
        before = target.feature_schema.get("metadata", {})
        target.feature_schema = {**target.feature_schema, "metadata": tidy}
        w.session.add(target)
        audit.record(
            w,
            actor=by.username,
            role=by.role,
            action="feature_metadata",
            model=model,
            version=version,
            before=before,
            after=tidy,
        )
