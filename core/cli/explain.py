"""`explain`: why the model decided as it did on one logged case.

Its arguments are declared in core.cli.grammar.explain, apart, so that `--help` loads none
of the libraries imported here.
"""

from __future__ import annotations

import argparse

from core.cli.common import emit, store_of
from core.explain.cases import explain_case
from core.explain.class_probabilities import ClassProbabilities
from core.words import points, score


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain one logged decision."""
    case = explain_case(
        store_of(args),
        model=args.model,
        request_id=args.request_id,
        version=args.version,
        units=args.units,
        class_=args.class_,
    )
    data = case.as_dict()
    head = f"{args.model} v{case.version}, request {args.request_id}: "
    if case.classes is not None:
        head += _class_words(case.classes)
    elif case.threshold is not None:
        side = "at or above" if case.flagged else "below"
        output = score(case.explanation.output, threshold=case.threshold)
        head += f"score {output} ({side} the threshold {points(case.threshold)})"
    else:
        head += f"{case.explanation.output:.4g}"
    lines = [head, *(f"  - {r}" for r in data["reasons"])]
    if case.counterfactual_text:
        lines.append(f"  What would change it: {case.counterfactual_text}")
    if case.similar.get("text"):
        lines.append(f"  {case.similar['text']}")
    if case.explanation.note:
        lines.append(f"  {case.explanation.note}")
    emit(args, data, "\n".join(lines))
    return 0


def _class_words(classes: ClassProbabilities) -> str:
    """'predicted virginica (setosa 0%, versicolor 8%, virginica 92%); reasons for the
    probability of versicolor (8%)'."""
    shares = ", ".join(f"{c} {p:.0%}" for c, p in classes.probabilities.items())
    return (
        f"predicted {classes.predicted} ({shares}); reasons for the probability of "
        f"{classes.explained} ({classes.probabilities[classes.explained]:.0%})"
    )
