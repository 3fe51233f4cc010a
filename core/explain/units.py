"""From the scale a model adds up in to the units a person asked for.

Logistic and boosted models add up in log-odds, forests in probability. Contributions found
exactly on that scale are carried to the other one by one factor per case, the slope of the
link between the typical case and this case:

    contribution in units = contribution on the model's scale
                            x (link(output) - link(base)) / (output - base)

with base and output on the model's scale and link the sigmoid (log-odds -> probability) or
the logit (probability -> log-odds); when output equals base, the factor is the link's slope
there. The base value in units is link(base). Each case still adds up exactly, the signs and
the order of the contributions are kept, and the factor is the same for every feature of a
case.
"""

from __future__ import annotations

import numpy as np

CLIP = 1e-12  # as the explainers' predict clips a probability before taking its log-odds


def sigmoid(margin: np.ndarray) -> np.ndarray:
    """Log-odds to probability."""
    return 1 / (1 + np.exp(-margin))


def logit(probability: np.ndarray) -> np.ndarray:
    """Probability to log-odds (clipped as the explainers' predict clips)."""
    clipped = np.clip(probability, CLIP, 1 - CLIP)
    return np.log(clipped / (1 - clipped))


def convert(
    base: np.ndarray, contributions: np.ndarray, output: np.ndarray, *, native: str, units: str
) -> tuple[np.ndarray, np.ndarray]:
    """(base, contributions) on the model's NATIVE scale carried into UNITS, row by row.

    OUTPUT is the model's output on its native scale; base + contributions adds up to it."""
    if native == units:
        return base, contributions
    if (native, units) == ("log_odds", "probability"):
        base_u, out_u = sigmoid(base), sigmoid(output)
        slope = out_u * (1 - out_u)
    elif (native, units) == ("probability", "log_odds"):
        base_u, out_u = logit(base), logit(output)
        clipped = np.clip(output, CLIP, 1 - CLIP)
        slope = 1 / (clipped * (1 - clipped))
    else:
        raise ValueError(f"cannot carry {native} into {units}")
    step = output - base
    same = np.abs(step) < 1e-12
    factor = np.where(same, slope, (out_u - base_u) / np.where(same, 1.0, step))
    return base_u, contributions * factor[:, None]
