"""The calibration map of performance estimates (core.monitoring.isotonic) gives exactly
scikit-learn's IsotonicRegression numbers, bit for bit, without importing scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from core.monitoring.isotonic import isotonic_fit


def _cases() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    cases = []
    for n in (1, 2, 3, 5, 20, 100, 400):
        x = rng.uniform(0, 1, n)
        if n >= 5:
            x[: n // 4] = x[n // 4 : 2 * (n // 4)]  # ties, averaged by weight
        y = np.clip(x + rng.normal(0, 0.2, n), 0, 1)
        weight = rng.integers(1, 500, n).astype(float)
        cases.append((x, y, weight))
    flat = np.linspace(0, 1, 30)
    cases.append((flat, np.repeat([0.3, 0.1, 0.6], 10), np.ones(30)))  # pools and plateaus
    cases.append((flat, flat[::-1].copy(), np.arange(1.0, 31.0)))  # all one pool
    return cases


@pytest.mark.parametrize("case", _cases(), ids=lambda c: f"{len(c[0])} points")
def test_the_fit_matches_scikit_learn_bit_for_bit(
    case: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    x, y, weight = case
    expected = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    expected.fit(x, y, sample_weight=weight)
    probe = np.concatenate([np.linspace(-0.5, 1.5, 997), x])

    got = isotonic_fit(x, y, weight, y_min=0.0, y_max=1.0)(probe)

    assert got.dtype == np.float64
    assert np.array_equal(got, expected.predict(probe))
    assert got.tobytes() == expected.predict(probe).tobytes()
