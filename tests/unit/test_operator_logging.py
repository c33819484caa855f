"""The operator's log keeps what matters: routine watch-event and probe successes are dropped."""

from __future__ import annotations

import logging

from mlops_operator.runner import RoutineSuccesses


def record(
    message: str, level: int = logging.INFO, name: str = "kopf.objects"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_routine_successes_are_dropped() -> None:
    quiet = RoutineSuccesses()
    assert not quiet.filter(record("Handler 'watch-dataset' succeeded."))
    assert not quiet.filter(record("Handler 'watch-modeldeployment' succeeded."))
    assert not quiet.filter(record("Activity 'api' succeeded.", name="kopf.activities.probe"))


def test_everything_else_is_kept() -> None:
    quiet = RoutineSuccesses()
    kept = [
        record("Handler 'reconcile_model_version' succeeded."),
        record(
            "Handler 'watch-dataset' failed with an exception. Will retry.", level=logging.ERROR
        ),
        record("Handler 'watch-pod' succeeded.", level=logging.WARNING),
        record("Creation is processed: 1 succeeded; 0 failed."),
        record("Activity 'configure' succeeded.", name="kopf.activities.startup"),
        record("Timer 'reconcile_dataset' failed temporarily: retry", level=logging.ERROR),
        record("Timer 'reconcile_dataset' succeeded.", level=logging.WARNING),
    ]
    assert all(quiet.filter(r) for r in kept)
