"""Model performance benchmark: the label-free estimate against NannyML's CBPE, and the join of
predictions with labels against a plain pandas merge and a pyarrow hash join.

(a) Estimate. Each dataset has a labeled reference period (10 k rows, unshifted) and an
analysis period (50 k rows, shifted) whose labels are known to the bench only, to compute the
realized accuracy and F1. Contenders, alternating inside every round (a new draw per round):
  - ours: `performance.estimate.cbpe` on the served probabilities, no reference at all;
  - ours + calibration: `calibrate` (isotonic per class) on the reference, then `cbpe`;
  - NannyML 0.13.1 `CBPE` (chunk_number=1), fitted on the reference, estimating the analysis
    period; it runs in its own virtualenv (~/.cache/mlops-operator/bench/nannyml-venv, created
    on first use) as a subprocess reading the same Parquet files. Its time is fit + estimate
    measured inside that process (its import, ~seconds, is printed apart).
The table shows the median absolute error of each estimate against the realized metric.

(b) Join, 1 M predictions (1 % duplicate ids) with 1 M labels (5 % corrections of earlier
labels, 5 % for unknown ids): ours (`performance.join.join`) against `DataFrame.merge` and
`pyarrow.Table.join` on the id, which apply none of the rules.

    python bench/performance_bench.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from mlops_operator.artifacts.records import ID, LABEL, PREDICTION, TIME
from mlops_operator.performance.estimate import calibrate, cbpe
from mlops_operator.performance.join import join

VENV = Path.home() / ".cache/mlops-operator/bench/nannyml-venv"
# nannyml 0.13.1 imports statsmodels without declaring it.
NANNYML_REQUIREMENTS = ["nannyml==0.13.1", "statsmodels"]
REFERENCE_ROWS, ANALYSIS_ROWS = 10_000, 50_000

NANNYML_WORKER = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
start = time.perf_counter()
import nannyml as nml
import pandas as pd
imported = time.perf_counter() - start
ref = pd.read_parquet(sys.argv[1])
ana = pd.read_parquet(sys.argv[2])
classes = json.loads(sys.argv[3])
if len(classes) == 2:
    kind, proba = "classification_binary", "p_1"
else:
    kind, proba = "classification_multiclass", {c: f"p_{c}" for c in classes}
start = time.perf_counter()
estimator = nml.CBPE(problem_type=kind, y_pred_proba=proba, y_pred="pred", y_true="y",
                     metrics=["accuracy", "f1"], chunk_number=1)
estimator.fit(ref)
result = estimator.estimate(ana).filter(period="analysis").to_df()
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "import": imported,
                  "accuracy": float(result[("accuracy", "value")].iloc[0]),
                  "f1": float(result[("f1", "value")].iloc[0])}))
"""


def ensure_nannyml_venv() -> Path:
    """The NannyML virtualenv's python, created and installed once."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import nannyml"]
    if python.exists() and subprocess.run(probe, check=False, capture_output=True).returncode == 0:
        return python
    VENV.parent.mkdir(parents=True, exist_ok=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    install = [str(python), "-m", "pip", "install", "-q", *NANNYML_REQUIREMENTS]
    subprocess.run(install, check=True)
    return python


# --- (a) the estimate ------------------------------------------------------------------------


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def draw(rng: np.random.Generator, scenario: str, rows: int, analysis: bool) -> pd.DataFrame:
    """Served probabilities, the served prediction and the truth of one period."""
    k = 3 if scenario == "multiclass" else 2
    shift = 0.8 if analysis else 0.0
    x = rng.normal(shift, 1.0, size=(rows, 2))
    weights = np.array([[0.0, 0.0], [2.0, 0.5], [-1.0, 1.5]])[:k]
    true_p = softmax(x @ weights.T)
    served = true_p
    if scenario == "overconfident":
        served = softmax(3.0 * (x @ weights.T))  # a miscalibrated model: logits tripled
    if scenario == "concept drift" and analysis:
        true_p = softmax(x @ (weights * np.array([[1.0], [-0.5], [1.0]])[:k]).T)  # P(y|x) moves
    y = (true_p.cumsum(axis=1) > rng.random((rows, 1))).argmax(axis=1)
    frame = pd.DataFrame({f"p_{c}": served[:, c] for c in range(k)})
    frame["pred"] = served.argmax(axis=1)
    frame["y"] = y
    return frame


def realized(frame: pd.DataFrame, k: int) -> dict[str, float]:
    from sklearn import metrics as skm

    average = "binary" if k == 2 else "macro"
    return {
        "accuracy": float(skm.accuracy_score(frame["y"], frame["pred"])),
        "f1": float(skm.f1_score(frame["y"], frame["pred"], average=average)),
    }


def timed(fn: Callable[[], dict[str, float]]) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


SCENARIOS = ["calibrated", "overconfident", "multiclass", "concept drift"]
CONTENDERS = ["ours", "ours+cal", "nannyml"]


def _calibrated(
    proba: np.ndarray, pred: np.ndarray, ref_proba: np.ndarray, ref_y: pd.Series, classes: list[int]
) -> dict[str, float]:
    return cbpe(calibrate(proba, ref_proba, ref_y.to_numpy(), classes), classes, pred)


def _nannyml(python: Path, ref_path: Path, ana_path: Path, classes: list[int]) -> dict[str, float]:
    args = [str(python), "-c", NANNYML_WORKER, str(ref_path), str(ana_path), json.dumps(classes)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def run_estimates(rounds: int, python: Path, workdir: Path) -> list[str]:
    errors: dict[tuple[str, str, str], list[float]] = {}
    seconds: dict[tuple[str, str], list[float]] = {}
    truth: dict[str, list[float]] = {}
    imports: list[float] = []
    for r in range(rounds):
        for s, scenario in enumerate(SCENARIOS):
            rng = np.random.default_rng(1000 * r + s)
            ref = draw(rng, scenario, REFERENCE_ROWS, analysis=False)
            ana = draw(rng, scenario, ANALYSIS_ROWS, analysis=True)
            k = 3 if scenario == "multiclass" else 2
            classes = list(range(k))
            columns = [f"p_{c}" for c in classes]
            ref_path, ana_path = workdir / "ref.parquet", workdir / "ana.parquet"
            ref.to_parquet(ref_path)
            ana.drop(columns=["y"]).to_parquet(ana_path)
            want = realized(ana, k)
            truth.setdefault(scenario, []).append(want["accuracy"])
            proba, pred = ana[columns].to_numpy(), ana["pred"].to_numpy()

            ours = partial(cbpe, proba, classes, pred)
            ours_cal = partial(_calibrated, proba, pred, ref[columns].to_numpy(), ref["y"], classes)
            nannyml = partial(_nannyml, python, ref_path, ana_path, classes)
            order = CONTENDERS if (r + s) % 2 == 0 else CONTENDERS[::-1]
            for name in order:
                if name == "nannyml":
                    result = nannyml()
                    elapsed = result["seconds"]
                    imports.append(result["import"])
                else:
                    elapsed, result = timed(ours if name == "ours" else ours_cal)
                seconds.setdefault((scenario, name), []).append(elapsed)
                for metric in ("accuracy", "f1"):
                    error = abs(result[metric] - want[metric])
                    errors.setdefault((scenario, name, metric), []).append(error)

    med = statistics.median
    lines = [
        f"## Label-free estimate: {REFERENCE_ROWS // 1000} k reference, "
        f"{ANALYSIS_ROWS // 1000} k analysis rows, {rounds} rounds, medians",
        "",
        "| data | realized accuracy | abs. error accuracy: ours / ours+cal / NannyML "
        "| abs. error F1: ours / ours+cal / NannyML | time: ours / ours+cal / NannyML "
        "| NannyML / ours+cal |",
        "|---|---|---|---|---|---|",
    ]
    for scenario in SCENARIOS:
        acc = " / ".join(f"{med(errors[(scenario, c, 'accuracy')]):.4f}" for c in CONTENDERS)
        f1 = " / ".join(f"{med(errors[(scenario, c, 'f1')]):.4f}" for c in CONTENDERS)
        times = " / ".join(_ms(med(seconds[(scenario, c)])) for c in CONTENDERS)
        ratio = med(
            n / o
            for n, o in zip(
                seconds[(scenario, "nannyml")], seconds[(scenario, "ours+cal")], strict=True
            )
        )
        lines.append(
            f"| {scenario} | {med(truth[scenario]):.4f} | {acc} | {f1} | {times} | {ratio:.0f}x |"
        )
    lines += [
        "",
        f"NannyML's import in its process: {med(imports):.1f} s (not in its times above).",
        "ours: the served probabilities as they are, no reference, no labels. ours+cal: "
        "isotonic calibration per class on the labeled reference first. NannyML: calibrates "
        "on the reference too, and also returns sampling errors, confidence bands and alert "
        "thresholds per chunk. None can see concept drift (P(y|x) moved): only labels do.",
    ]
    return lines


# --- (b) the join ----------------------------------------------------------------------------


def join_data(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = np.array([f"req-{i:09d}" for i in range(rows)], dtype=object)
    pred_ids = ids.copy()
    dup = rng.choice(rows, rows // 100, replace=False)
    pred_ids[dup] = ids[rng.choice(rows, len(dup))]  # 1 % ids seen twice
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    preds = pd.DataFrame(
        {
            ID: pred_ids,
            PREDICTION: rng.integers(0, 3, rows),
            TIME: t0 + pd.to_timedelta(np.arange(rows), unit="ms"),
            "mlops.proba.0": rng.random(rows),
        }
    )
    known = rows - rows // 10
    label_ids = np.concatenate(
        [
            rng.permutation(ids)[:known],
            ids[rng.choice(rows, rows // 20)],  # corrections
            np.array([f"ghost-{i}" for i in range(rows // 20)], dtype=object),
        ]
    )
    values = rng.integers(0, 3, len(label_ids))
    texts = np.array(["0", "1", "2"], dtype=object)[values]
    labels = pd.DataFrame(
        {
            ID: label_ids,
            LABEL: texts,
            TIME: t0 + pd.to_timedelta(rng.integers(0, 10**9, len(label_ids)), unit="ms"),
        }
    )
    return preds, labels


def run_join(rows: int, rounds: int) -> list[str]:
    preds, labels = join_data(rows, 7)
    pred_table = pa.Table.from_pandas(preds, preserve_index=False)
    label_table = pa.Table.from_pandas(labels[[ID, LABEL]], preserve_index=False)
    contenders: dict[str, Callable[[], int]] = {
        "ours": lambda: len(join(preds, labels).frame),
        "pandas merge": lambda: len(preds.merge(labels[[ID, LABEL]], on=ID, how="inner")),
        "pyarrow join": lambda: pred_table.join(label_table, ID, join_type="inner").num_rows,
    }
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    matched: dict[str, int] = {}
    names = list(contenders)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            matched[name] = contenders[name]()
            seconds[name].append(time.perf_counter() - start)
    med = statistics.median
    lines = [
        f"## Join: {rows:,} predictions with {len(labels):,} labels, {rounds} rounds, medians",
        "",
        "| contender | time | predictions/s | rows out | time / pandas merge |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        ratio = med(a / b for a, b in zip(seconds[name], seconds["pandas merge"], strict=True))
        rate = rows / med(seconds[name])
        lines.append(
            f"| {name} | {_ms(med(seconds[name]))} | {rate / 1e6:.2f} M | "
            f"{matched[name]:,} | {ratio:.2f} |"
        )
    lines += [
        "",
        "ours: first prediction per id, labels decoded from JSON and coerced to the prediction "
        "type, the latest valid label per id, unknown ids kept apart and every count; the "
        "merge and the pyarrow hash join only match ids (a duplicate or corrected id gives "
        "several rows).",
    ]
    return lines


def _ms(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 10 else f"{value:.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--join-rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    python = ensure_nannyml_venv()
    with tempfile.TemporaryDirectory(prefix="performance-bench-") as tmp:
        print("\n".join(run_estimates(args.rounds, python, Path(tmp))), flush=True)
    print(flush=True)
    print("\n".join(run_join(args.join_rows, args.rounds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
