"""Traffic for `make demo`: predictions, drifted rows and load on the iris model server.

Standard library plus scikit-learn's bundled iris rows, so it runs on the host (`.venv`) and,
unchanged, inside the project image (`python -c "$(cat hack/demo_client.py)" ...`) on clusters
whose Services the host cannot reach.

    demo_client.py predict URL            one V1 :predict of two flowers
    demo_client.py drift URL [--rows N]   N iris rows with the petal features shifted (+3 cm)
    demo_client.py labeled URL [--rows N] [--shift S]
                                          N iris rows (petal features shifted by S cm) predicted,
                                          then their true species sent to the feedback endpoint;
                                          prints the accuracy of the answers
    demo_client.py load URL --until-version V [--seconds S] [--shift S]
                                          V2 /infer from 4 threads until 50 answers in a row come
                                          from version V; counts answers per version and failures

Each command prints one JSON line on stdout; the exit code is 1 when a request failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

MODEL = "iris"
FEATURES = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]


def iris_rows(shift: float = 0.0) -> list[list[float]]:
    """The 150 iris flowers; `shift` cm added to the petal length and width (a new instrument:
    the same species, measured differently)."""
    from sklearn.datasets import load_iris

    rows: list[list[float]] = load_iris().data.tolist()
    return [[a, b, c + shift, d + shift] for a, b, c, d in rows]


def iris_species() -> list[str]:
    from sklearn.datasets import load_iris

    bunch = load_iris()
    return [str(bunch.target_names[t]) for t in bunch.target]


def labeled(base: str, rows: int, shift: float, seed: int = 0) -> int:
    """Predict `rows` flowers 10 at a time, then send each prediction's true species to the
    feedback endpoint by its prediction id (as a labelling team would, later)."""
    import random

    flowers, species = iris_rows(shift), iris_species()
    order = list(range(len(flowers)))
    random.Random(seed).shuffle(order)
    picked = [order[i % len(order)] for i in range(rows)]
    right = sent = accepted = failed = 0
    for start in range(0, len(picked), 10):
        batch = picked[start : start + 10]
        try:
            answer = post(
                f"{base}/v1/models/{MODEL}:predict", {"instances": [flowers[i] for i in batch]}
            )
            labels = [
                {"id": pid, "label": species[i]}
                for pid, i in zip(answer["ids"], batch, strict=True)
            ]
            right += sum(p == species[i] for p, i in zip(answer["predictions"], batch, strict=True))
            sent += len(batch)
            accepted += int(
                post(f"{base}/v2/models/{MODEL}/feedback", {"labels": labels})["accepted"]
            )
        except (urllib.error.URLError, OSError, KeyError, ValueError):
            failed += len(batch)
    accuracy = round(right / sent, 4) if sent else None
    print(json.dumps({"rows": sent, "accuracy": accuracy, "labelsAccepted": accepted,
                      "failedRows": failed, "shift": shift}))  # fmt: skip
    return 1 if failed else 0


def post(url: str, body: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        result: dict[str, Any] = json.loads(answer.read())
        return result


def predict(base: str) -> int:
    flowers = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    answer = post(f"{base}/v1/models/{MODEL}:predict", {"instances": flowers})
    print(json.dumps({"instances": flowers, **answer}))
    return 0


def drift(base: str, rows: int, shift: float) -> int:
    source = iris_rows()
    shifted = [[a, b, c + shift, d + shift] for a, b, c, d in source]
    sent = failed = 0
    while sent + failed < rows:
        batch = [shifted[(sent + failed + i) % len(shifted)] for i in range(10)]
        try:
            post(f"{base}/v1/models/{MODEL}:predict", {"instances": batch})
            sent += len(batch)
        except (urllib.error.URLError, OSError):
            failed += len(batch)
    print(json.dumps({"rows": sent, "failedRows": failed, "shift": shift}))
    return 1 if failed else 0


def v2_body(row: list[float]) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": name, "datatype": "FP32", "shape": [1], "data": [value]}
            for name, value in zip(FEATURES, row, strict=True)
        ]
    }


def load(
    base: str, until_version: str, seconds: float, threads: int = 4, shift: float = 0.0
) -> int:
    rows = iris_rows(shift)
    lock = threading.Lock()
    versions: dict[str, int] = {}
    failures: list[str] = []
    streak = [0]
    done = threading.Event()
    deadline = time.monotonic() + seconds

    def worker(offset: int) -> None:
        i = offset
        while not done.is_set() and time.monotonic() < deadline:
            try:
                answer = post(f"{base}/v2/models/{MODEL}/infer", v2_body(rows[i % len(rows)]))
                version = str(answer.get("model_version"))
            except (urllib.error.URLError, OSError, ValueError) as error:
                with lock:
                    failures.append(str(error))
                continue
            finally:
                i += threads
            with lock:
                versions[version] = versions.get(version, 0) + 1
                streak[0] = streak[0] + 1 if version == until_version else 0
                if streak[0] >= 50:
                    done.set()
            time.sleep(0.02)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(
        json.dumps(
            {
                "requests": sum(versions.values()) + len(failures),
                "byVersion": versions,
                "failed": len(failures),
                "reachedVersion": done.is_set(),
                "firstFailures": failures[:3],
            }
        )
    )
    return 1 if failures or not done.is_set() else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="demo_client.py")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("predict", "drift", "labeled", "load"):
        command = sub.add_parser(name)
        command.add_argument("url", help="http://<service address>")
    sub.choices["drift"].add_argument("--rows", type=int, default=400)
    sub.choices["drift"].add_argument("--shift", type=float, default=3.0)
    sub.choices["labeled"].add_argument("--rows", type=int, default=200)
    sub.choices["labeled"].add_argument("--shift", type=float, default=0.0)
    sub.choices["labeled"].add_argument("--seed", type=int, default=0)
    sub.choices["load"].add_argument("--shift", type=float, default=0.0)
    sub.choices["load"].add_argument("--until-version", required=True)
    sub.choices["load"].add_argument("--seconds", type=float, default=300)
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")
    if args.command == "predict":
        return predict(base)
    if args.command == "drift":
        return drift(base, args.rows, args.shift)
    if args.command == "labeled":
        return labeled(base, args.rows, args.shift, args.seed)
    return load(base, args.until_version, args.seconds, shift=args.shift)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
