"""How many threads a drift check spreads its features over.

The per-feature work (sorting a numeric window, hashing a categorical one) runs in numpy and
Arrow with the GIL released, so features checked on separate threads use separate cores. A
small window is not worth a thread: below PARALLEL_MIN_ROWS the check stays on the caller's.
"""

from __future__ import annotations

import os
from pathlib import Path

PARALLEL_MIN_ROWS = 20_000
MAX_WORKERS = 8
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cpus() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota (a pod's
    CPU limit), so a limited pod does not start threads it would only be throttled on."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()[:2]
    except (OSError, ValueError):
        return max(cpus, 1)
    if quota != "max" and int(period) > 0:
        cpus = min(cpus, max(int(quota) // int(period), 1))
    return max(cpus, 1)


def check_workers(rows: int, features: int) -> int:
    """Threads for checking `features` features of a `rows`-row window (1: no pool)."""
    if rows < PARALLEL_MIN_ROWS or features < 2:
        return 1
    return min(features, available_cpus(), MAX_WORKERS)
