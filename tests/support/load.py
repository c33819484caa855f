"""A bounded load generator for a model Service: V2 inference from a few threads, every answer
counted by the model version that gave it, every failure (connection error, timeout, non-200)
kept with its reason."""

from __future__ import annotations

import threading
import time
from collections import Counter
from types import TracebackType
from typing import Any

import requests

FEATURES = ("sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm")
ROWS = ([5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5])


def v2_body(row: list[float]) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": name, "datatype": "FP32", "shape": [1], "data": [value]}
            for name, value in zip(FEATURES, row, strict=True)
        ]
    }


class Load:
    """`with Load(url) as load: ...`: `threads` clients, each at most `rate` requests/s, for at
    most `seconds`, keep-alive sessions (as most clients are)."""

    def __init__(
        self,
        url: str,
        threads: int = 4,
        rate: float = 25,
        seconds: float = 600,
        model: str = "iris",
    ) -> None:
        from sklearn.datasets import load_iris

        # the 150 iris flowers in turn: traffic with the training distribution (no drift)
        self.rows: list[list[float]] = load_iris().data.tolist()
        self.url = f"{url.rstrip('/')}/v2/models/{model}/infer"
        self.threads = threads
        self.interval = 1.0 / rate
        self.seconds = seconds
        self.versions: Counter[str] = Counter()
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self.steps: list[str] = []
        self.started = time.monotonic()

    def _run(self, offset: int) -> None:
        session = requests.Session()
        deadline = time.monotonic() + self.seconds
        i = offset * len(self.rows) // self.threads
        while not self._stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            try:
                answer = session.post(
                    self.url, json=v2_body(self.rows[i % len(self.rows)]), timeout=5
                )
                if answer.status_code == 200:
                    version = str(answer.json()["model_version"])
                    with self._lock:
                        self.versions[version] += 1
                else:
                    self._failed(f"{answer.status_code} {answer.text[:200]}")
            except (requests.RequestException, ValueError, KeyError) as error:
                self._failed(f"{type(error).__name__}: {error}")
            i += 1
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def _failed(self, what: str) -> None:
        # when, so a failure can be placed among the test's own steps (see `mark`)
        at = time.monotonic() - self.started
        with self._lock:
            self.failures.append(f"[{at:.1f} s] {what}")

    def mark(self, step: str) -> None:
        """Notes when a step of the test happened, for the summary."""
        with self._lock:
            self.steps.append(f"{step} at {time.monotonic() - self.started:.1f} s")

    @property
    def requests(self) -> int:
        with self._lock:
            return sum(self.versions.values()) + len(self.failures)

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        self._workers = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=10)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def summary(self) -> str:
        return (
            f"{self.requests} requests, by version {dict(self.versions)}, "
            f"{len(self.failures)} failed {self.failures[:3]}"
            + (f" ... {self.failures[-1]}" if len(self.failures) > 3 else "")
            + (f"; steps: {', '.join(self.steps)}" if self.steps else "")
        )
