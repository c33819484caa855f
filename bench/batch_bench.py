"""Batch scoring benchmark: `mlops-operator predict` (one BatchPrediction partition per process)
at 1 and 2 partitions against the floor, a single-process pandas + onnxruntime loop.

The same ONNX model (a LogisticRegression over 20 numeric features, exported as training
exports it) scores the same rows (Parquet, 2 files). Contenders:
  floor    read the files with pandas, `InferenceSession.run` in batches of 65536, keep the
           labels and probabilities in memory: no output written, no process started
  bp-1     one `mlops-operator predict` process: index 0 of 1 partition, streams the rows,
           writes part-00000.parquet (ids, prediction, probabilities, version)
  bp-2     two such processes at once (indexes 0 and 1 of 2), as an Indexed Job's pods run
Each process's own start (Python, pyarrow, onnxruntime imports) is inside its time, as a pod's
would be (a pod's scheduling and image start are not). Rounds are interleaved; the table
gives medians of rows/s and the per-round ratio to the floor.

Not measured here (issue #13 asks for them; see the closing note): posting the same rows to
our model server in batches, and peak memory of a partitioned profile of 20 M rows.

Usage: python bench/batch_bench.py [--rows 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = [f"f{i}" for i in range(20)]


def make_model(root: Path, rows: int) -> tuple[str, str, dict, Path]:
    from mlops_operator.api.trainingjob import TrainingJobSpec
    from mlops_operator.artifacts import Store
    from mlops_operator.artifacts.store import sha256_hex
    from mlops_operator.training.estimators import build_pipeline
    from mlops_operator.training.export import export, signature

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(5000, 20)).astype(np.float32).astype(np.float64),
                     columns=FEATURES)  # fmt: skip
    y = pd.Series(np.where(x["f0"] + x["f1"] > 0, "yes", "no"))
    spec = TrainingJobSpec.model_validate({
        "datasetRef": {"name": "d"}, "model": "m", "estimator": "LogisticRegression",
        "target": "y", "hyperparameters": {"max_iter": 500},
    })  # fmt: skip
    pipeline = build_pipeline(spec, FEATURES, []).fit(x, y)
    exported = export(pipeline, x, FEATURES, FEATURES, "classification", prefer="auto")
    assert exported.format == "onnx", exported.note
    sha = sha256_hex(exported.data)
    uri, _ = Store((root / "store").as_uri()).write_bytes(f"models/b/m/{sha}/model.onnx",
                                                          exported.data)  # fmt: skip
    sig = signature(FEATURES, FEATURES, "classification", ["no", "yes"]).wire()
    data = root / "input"
    data.mkdir()
    half = rows // 2
    for i, n in enumerate((half, rows - half)):
        frame = pd.DataFrame(rng.normal(size=(n, 20)), columns=FEATURES)
        frame.to_parquet(data / f"part-{i}.parquet", row_group_size=65536, index=False)
    return uri, sha, sig, data


def floor(data: Path, model_path: str) -> float:
    import onnxruntime as ort

    started = time.perf_counter()
    options = ort.SessionOptions()
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    rows = 0
    for path in sorted(data.glob("*.parquet")):
        frame = pd.read_parquet(path)
        for lo in range(0, len(frame), 65536):
            batch = frame.iloc[lo : lo + 65536]
            feed = {c: batch[c].to_numpy(np.float32).reshape(-1, 1) for c in FEATURES}
            labels, _ = session.run(None, feed)
            rows += len(labels)
    elapsed = time.perf_counter() - started
    return rows / elapsed


def partitions(n: int, rows: int, uri: str, sha: str, sig: dict, data: Path, out: Path) -> float:
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlops_operator.cli",
                "predict",
                "--name",
                "bench",
                "--model",
                f"m-v1={uri}@{sha}",
                "--signature-json",
                json.dumps(sig),
                "--task",
                "classification",
                "--input",
                data.as_uri() + "/",
                "--partitions",
                str(n),
                "--index",
                str(i),
                "--output-uri",
                out.as_uri(),
                "--termination-log",
                str(out.parent / f"log-{n}-{i}"),
            ],
            stdout=subprocess.DEVNULL,
        )
        for i in range(n)
    ]
    assert all(p.wait() == 0 for p in procs)
    elapsed = time.perf_counter() - started
    scored = sum(json.loads((out.parent / f"log-{n}-{i}").read_text())["rows"] for i in range(n))
    assert scored == rows, (scored, rows)
    return rows / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        uri, sha, sig, data = make_model(root, args.rows)
        model_path = uri.removeprefix("file://")
        results: dict[str, list[float]] = {"floor": [], "bp-1": [], "bp-2": []}
        for round_ in range(args.rounds):
            results["floor"].append(floor(data, model_path))
            for n in (1, 2):
                out = root / f"out-{round_}-{n}"
                results[f"bp-{n}"].append(partitions(n, args.rows, uri, sha, sig, data, out))
        print(f"{args.rows} rows x 20 features, LogisticRegression (ONNX), {args.rounds} rounds")
        print(f"{'contender':<10} {'median rows/s':>14} {'/ floor (median of rounds)':>28}")
        for name, values in results.items():
            ratios = [v / f for v, f in zip(values, results["floor"], strict=True)]
            print(f"{name:<10} {statistics.median(values):>14,.0f} "
                  f"{statistics.median(ratios):>28.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
