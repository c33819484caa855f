"""The serving benchmark's report: per-round results, what each server really runs (HTTP stack
and access log, read from its processes and its log, not assumed) and the ratios."""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

WHAT = (
    "What each does that the others do not: ours validates every request against the model "
    "signature, counts it in Prometheus metrics and samples 10 % of rows for drift; bare only "
    "parses, runs onnxruntime and answers (the floor of this HTTP stack); mlflow validates "
    "against its signature and runs the scikit-learn estimator; mlflow-onnx is MLflow's server "
    "running the very ONNX file ours runs, with the same onnxruntime and threads."
)


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    cpu_ms_per_request: float
    access_lines: int = 0  # request lines the server's log gained during the run


def _parents() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        children.setdefault(int(raw[raw.rindex(")") + 2 :].split()[1]), []).append(int(entry))
    return children


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (uvicorn or gunicorn may serve from children)."""
    children = _parents()
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def process_tree_cpu(pid: int) -> float:
    """user+sys seconds of pid and all its descendants."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for current in process_tree(pid):
        try:
            raw = Path(f"/proc/{current}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def http_stack_of(pid: int, in_process_uvicorn: bool) -> str:
    """What the server's processes run: the HTTP server program on their command lines (or
    uvicorn started in-process), and whether httptools' and uvloop's compiled modules are
    loaded in them (uvicorn picks them when it can import them)."""
    programs, loaded = set(), set()
    for current in process_tree(pid):
        try:
            maps = Path(f"/proc/{current}/maps").read_text()
            argv = Path(f"/proc/{current}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        loaded |= {lib for lib in ("httptools", "uvloop") if f"/{lib}/" in maps}
        programs |= {p for p in ("uvicorn", "gunicorn", "waitress") if p in argv}
    if in_process_uvicorn:
        programs.add("uvicorn")
    parser = "httptools" if "httptools" in loaded else "h11 (pure Python)"
    loop = "uvloop" if "uvloop" in loaded else "asyncio"
    return f"{'+'.join(sorted(programs)) or '?'}, {parser}, {loop}"


ACCESS_LINE = re.compile(r'"(?:POST|GET) /')


def access_lines(log: Path) -> int:
    """Access-log lines in a server's log (uvicorn and gunicorn both quote the request line)."""
    return len(ACCESS_LINE.findall(log.read_text(errors="replace")))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _rps(mine: Result, theirs: Result) -> float:
    return mine.rps / theirs.rps


def _p99(mine: Result, theirs: Result) -> float:
    return theirs.p99_ms / mine.p99_ms


# (server, against, label, ratio, target or None); a target missed fails the run
RATIOS: list[tuple[str, str, str, Callable[[Result, Result], float], float | None]] = [
    ("ours", "bare", "ours/bare req/s", _rps, 0.7),
    ("ours", "mlflow", "ours/mlflow req/s", _rps, 30),
    ("ours", "mlflow", "mlflow p99 / ours p99", _p99, 20),
    ("ours", "mlflow-onnx", "ours/mlflow-onnx req/s (the server alone)", _rps, None),
    ("ours", "mlflow-onnx", "mlflow-onnx p99 / ours p99", _p99, None),
    ("mlflow-onnx", "mlflow", "mlflow-onnx/mlflow req/s (the runtime alone)", _rps, None),
]


def report(
    results: dict[tuple[str, str], list[Result]],
    rounds: int,
    workers: int,
    connections: int,
    stacks: dict[str, str],
) -> bool:
    ok = True
    print(f"\nmedians of {rounds} interleaved rounds; {workers} worker process per server, "
          f"{connections} connections, loopback\n")  # fmt: skip
    print("| model | server | req/s | p50 ms | p99 ms | server CPU ms/req | errors |")
    print("|---|---|---|---|---|---|---|")
    for (name, model), runs in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(
            f"| {model} | {name} | {median([r.rps for r in runs]):.0f} | "
            f"{median([r.p50_ms for r in runs]):.2f} | {median([r.p99_ms for r in runs]):.2f} | "
            f"{median([r.cpu_ms_per_request for r in runs]):.3f} | "
            f"{sum(r.errors for r in runs)}/{sum(r.requests for r in runs)} |"
        )
    print(f"\n{WHAT}")
    print("\n| server | HTTP stack, as loaded in its processes | access-log lines / requests |")
    print("|---|---|---|")
    for name in sorted(stacks):
        runs = [r for (n, _), rs in results.items() if n == name for r in rs]
        logged, requests = sum(r.access_lines for r in runs), sum(r.requests for r in runs)
        print(
            f"| {name} | {stacks[name]} | {logged} / {requests} ({'off' if not logged else 'ON'}) |"
        )
    print("\n| model | ratio (per round, median) | value | target | met |")
    print("|---|---|---|---|---|")
    for model in sorted({m for _, m in results}):
        for mine, other, label, ratio, target in RATIOS:
            ours, theirs = results.get((mine, model), []), results.get((other, model), [])
            if not ours or not theirs:
                continue
            value = median([ratio(o, t) for o, t in zip(ours, theirs, strict=False)])
            if target is None:
                print(f"| {model} | {label} | {value:.2f} | - | - |")
                continue
            met = value >= target
            ok &= met
            print(f"| {model} | {label} | {value:.2f} | >= {target} | {'yes' if met else 'NO'} |")
    if any(r.errors for runs in results.values() for r in runs):
        ok = False
        print("\nsome requests failed (see errors column)")
    return ok
