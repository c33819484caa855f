"""Drift check benchmark: ours vs Evidently's DataDriftPreset vs one np.sort.

25 features (20 numeric, 5 categorical with 10 levels); 3 numeric and 1
categorical shifted. Ours compares the current window with a reference profile
built beforehand (as the DriftMonitor does); Evidently gets both frames, as its
API requires. Contenders alternate inside every round; the table shows medians
and the median of the per-round ratios.

Evidently 0.7.23 needs pandas<3, so it runs in its own virtualenv
(~/.cache/mlops-operator/bench/evidently-venv, created on first use from
bench/requirements-evidently.txt) as a subprocess that reads the same Parquet
files and prints the time of its report run.

    python bench/drift_bench.py --rows 100000 --rounds 5
    python bench/drift_bench.py --rows 1000000 --rounds 1
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
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_operator.drift import build_reference_profile, check_drift

HERE = Path(__file__).resolve().parent
VENV = Path.home() / ".cache/mlops-operator/bench/evidently-venv"
NUMERIC = [f"n{i}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
LEVELS = np.array([f"level-{i}" for i in range(10)])

EVIDENTLY_WORKER = """
import json, sys, time
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

ref = pd.read_parquet(sys.argv[1])
cur = pd.read_parquet(sys.argv[2])
definition = DataDefinition(numerical_columns=json.loads(sys.argv[3]),
                            categorical_columns=json.loads(sys.argv[4]))
start = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(
    current_data=Dataset.from_pandas(cur, data_definition=definition),
    reference_data=Dataset.from_pandas(ref, data_definition=definition),
)
seconds = time.perf_counter() - start
count = next(m["value"] for m in snapshot.dict()["metrics"]
             if isinstance(m["value"], dict) and "count" in m["value"])
print(json.dumps({"seconds": seconds, "drifted": count["count"], "share": count["share"]}))
"""


def ensure_evidently_venv() -> Path:
    """The Evidently virtualenv's python, created and installed once."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import evidently, pandas"]
    if python.exists() and subprocess.run(probe, check=False, capture_output=True).returncode == 0:
        return python
    VENV.parent.mkdir(parents=True, exist_ok=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    requirements = HERE / "requirements-evidently.txt"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], check=True)
    return python


def make_frame(rows: int, seed: int, *, shifted: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {}
    for i, name in enumerate(NUMERIC):
        shift = 0.5 if shifted and i < 3 else 0.0
        data[name] = rng.normal(i + shift, 1 + i / 10, size=rows)
    base = np.linspace(1, 3, 10)
    for i, name in enumerate(CATEGORICAL):
        probs = base[::-1] if shifted and i == 0 else base
        data[name] = LEVELS[rng.choice(10, size=rows, p=probs / probs.sum())]
    return pd.DataFrame(data)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run_size(rows: int, rounds: int, python: Path, workdir: Path) -> list[str]:
    ref_path, cur_path = workdir / f"ref-{rows}.parquet", workdir / f"cur-{rows}.parquet"
    make_frame(rows, 1, shifted=False).to_parquet(ref_path)
    make_frame(rows, 2, shifted=True).to_parquet(cur_path)
    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    profile_seconds, profile = timed(lambda: build_reference_profile(ref, NUMERIC, CATEGORICAL))
    profile_bytes = len(profile.to_json())  # type: ignore[attr-defined]

    def ours(numeric_test: str, categorical_test: str) -> Callable[[], object]:
        return lambda: check_drift(
            profile,  # type: ignore[arg-type]
            cur,
            features=None,
            numeric_test=numeric_test,
            categorical_test=categorical_test,
        )

    def evidently() -> tuple[float, dict[str, float]]:
        args = [str(python), "-c", EVIDENTLY_WORKER, str(ref_path), str(cur_path)]
        args += [json.dumps(NUMERIC), json.dumps(CATEGORICAL)]
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        return float(result["seconds"]), result

    contenders: dict[str, Callable[[], tuple[float, object]]] = {
        "ours wasserstein+jensenshannon": lambda: timed(ours("wasserstein", "jensenshannon")),
        "ours ks+chisquare (defaults)": lambda: timed(ours("ks", "chisquare")),
        "floor: np.sort of 20 numeric columns": lambda: timed(
            lambda: np.sort(cur[NUMERIC].to_numpy(), axis=0)
        ),
        "Evidently DataDriftPreset": evidently,
    }
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    outputs: dict[str, object] = {}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            seconds, out = contenders[name]()
            times[name].append(seconds)
            outputs[name] = out

    evid = "Evidently DataDriftPreset"
    floor = "floor: np.sort of 20 numeric columns"
    lines = [
        f"## {rows:,} vs {rows:,} rows, {rounds} interleaved round(s)",
        f"profile build (once, not timed below): {profile_seconds:.2f} s, "
        f"{profile_bytes / 1e6:.2f} MB JSON",
        "",
        "| contender | median s | Evidently / this | this / floor | drifted features |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        per_round_vs_evidently = [e / t for e, t in zip(times[evid], times[name], strict=True)]
        per_round_vs_floor = [t / f for t, f in zip(times[name], times[floor], strict=True)]
        drifted = _drifted(outputs[name])
        lines.append(
            f"| {name} | {statistics.median(times[name]):.4f} "
            f"| {statistics.median(per_round_vs_evidently):.1f}x "
            f"| {statistics.median(per_round_vs_floor):.2f} | {drifted} |"
        )
    return lines


def _drifted(output: object) -> str:
    if isinstance(output, dict):
        return f"{int(output['drifted'])} / 25"
    features = getattr(output, "features", None)
    if features is None:
        return "-"
    return f"{sum(f.drifted for f in features)} / 25"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=5, help="rounds below 1M rows")
    parser.add_argument("--large-rounds", type=int, default=1, help="rounds at >= 1M rows")
    args = parser.parse_args(argv)
    python = ensure_evidently_venv()
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        for rows in args.rows:
            rounds = args.large_rounds if rows >= 1_000_000 else args.rounds
            print("\n".join(run_size(rows, rounds, python, Path(tmp))), flush=True)
            print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
