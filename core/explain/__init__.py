"""Explanations of decisions and of the model: SHAP contributions, reasons, counterfactual hints."""

from core.explain.explainers import UNITS, Explainer, Explanation, build_explainer
from core.explain.version_explainer import explainer_for, logged_case

__all__ = [
    "UNITS",
    "Explanation",
    "Explainer",
    "build_explainer",
    "explainer_for",
    "logged_case",
    "cases",
    "class_probabilities",
    "global_importance",
]
