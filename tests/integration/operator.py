"""Run the operator in-process with Kopf's own test runner."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from kopf.testing import KopfRunner


@contextlib.contextmanager
def running_operator(namespace: str) -> Iterator[KopfRunner]:
    args = ["run", "--standalone", "--namespace", namespace, "-m", "mlops_operator.handlers"]
    with KopfRunner(args, timeout=60) as runner:
        yield runner
    assert runner.exit_code == 0, runner.output
    assert runner.exception is None, runner.exception
