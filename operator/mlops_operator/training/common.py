"""Shared plumbing of the pod commands: argument errors that do not exit, failure messages."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from ..reconcile import reasons
from . import termination


class InvalidInput(Exception):
    reason = reasons.INVALID_INPUT


class ArgumentParser(argparse.ArgumentParser):
    """Raises InvalidInput instead of exiting, so main() can report it in the message."""

    def error(self, message: str) -> NoReturn:
        raise InvalidInput(f"{self.prog}: {message}")


SpecT = TypeVar("SpecT", bound=BaseModel)


def parse_spec(model: type[SpecT], raw: str, kind: str) -> SpecT:
    """A resource spec handed over as JSON on the command line (wire form)."""
    try:
        return model.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as err:
        raise InvalidInput(f"invalid {kind} spec: {err}") from err


def option(argv: list[str], flag: str) -> str | None:
    """A flag's value, found even when the rest of the arguments do not parse."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(f"{flag}="):
            return arg.split("=", 1)[1]
    return None


def termination_log_path(argv: list[str]) -> str:
    return option(argv, "--termination-log") or termination.DEFAULT_PATH


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--termination-log", default=termination.DEFAULT_PATH)
    parser.add_argument(
        "--result-uri",
        help="also write the whole result here (the operator reads it; pods may be gone)",
    )


def report(argv: list[str], message: dict[str, Any]) -> int:
    """Leave the result where the kubelet and the operator each look for it; the exit code.

    A result the store cannot take (StoreUnavailable: the endpoint cannot be reached) fails
    the pod, and its termination message says so, naming the URI and the endpoint."""
    result_uri = option(argv, "--result-uri")
    if result_uri:
        from ..artifacts import Store, StoreUnavailable

        try:
            Store(result_uri.rsplit("/", 1)[0]).write_json(result_uri, message)
        except StoreUnavailable as err:
            if message.get("ok", True):  # a failure the pod reports says more than this
                message = {"ok": False, "reason": err.reason, "error": f"result not stored: {err}"}
    termination.write(message, termination_log_path(argv))
    return 0 if message.get("ok", True) else 1


def fail(argv: list[str], reason: str, error: str, **extra: Any) -> int:
    report(argv, {"ok": False, "reason": reason, "error": error, **extra})
    return 1


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
