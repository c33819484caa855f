"""`python -m mlops_operator.artifacts.verify_cli`: load-check a model artifact in its own process.

The operator checks every new ModelVersion's artifact end to end (exists, sha256, loads with
the runtime that will serve it). Loading needs onnxruntime or skops and scikit-learn, which only
pods need; a short-lived process keeps them out of the long-running operator's memory.
Prints one JSON line: {"ok": true} or {"ok": false, "reason": ..., "message": ...}.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .errors import ArtifactError
from .models import verify_model


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uri", required=True)
    parser.add_argument("--format", required=True)
    parser.add_argument("--sha256", required=True)
    args = parser.parse_args(argv)
    answer: dict[str, object]
    try:
        verify_model(args.uri, args.format, args.sha256)
        answer = {"ok": True}
    except ArtifactError as error:
        answer = {"ok": False, "reason": error.reason, "message": str(error)}
    except Exception as error:  # a load that fails in any other way is a failed load
        answer = {
            "ok": False,
            "reason": "LoadFailed",
            "message": f"{type(error).__name__}: {error}",
        }
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
