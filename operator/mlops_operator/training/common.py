"""Shared plumbing of the pod commands: argument errors that do not exit, failure messages."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any, NoReturn

from . import termination


class InvalidInput(Exception):
    reason = "InvalidInput"


class ArgumentParser(argparse.ArgumentParser):
    """Raises InvalidInput instead of exiting, so main() can report it in the message."""

    def error(self, message: str) -> NoReturn:
        raise InvalidInput(f"{self.prog}: {message}")


def termination_log_path(argv: list[str]) -> str:
    """--termination-log, found even when the rest of the arguments do not parse."""
    for i, arg in enumerate(argv):
        if arg == "--termination-log" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--termination-log="):
            return arg.split("=", 1)[1]
    return termination.DEFAULT_PATH


def fail(path: str, reason: str, error: str, **extra: Any) -> int:
    termination.write({"ok": False, "reason": reason, "error": error, **extra}, path)
    return 1


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
