"""Load one pickle/joblib model file and save it with skops, in a process of its own.

Run by core.registry.pickle_files as `python -m core.registry.pickle_worker SOURCE TARGET`.
Whatever code the pickle runs, it runs here, not in the CLI or the dashboard. Prints one line
on stderr and exits 2 when the file is not a model that skops can save.
"""

from __future__ import annotations

import sys


def main(source: str, target: str) -> int:
    import joblib
    import skops.io as sio

    try:
        model = joblib.load(source)
    except Exception as exc:  # unpickling junk raises anything from EOFError to KeyError
        text = str(exc).strip().splitlines()
        detail = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
        print(f"cannot be loaded as a joblib model file ({detail})", file=sys.stderr)
        return 2
    if not callable(getattr(model, "predict", None)):
        print(
            f"holds a {type(model).__name__}, not a model with a predict() method",
            file=sys.stderr,
        )
        return 2
    try:
        sio.dump(model, target)
    except Exception as exc:  # skops refuses objects it cannot represent
        print(f"cannot be saved with skops ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
