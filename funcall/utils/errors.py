"""Errors meant for the user, and the wrapper that turns them into one line and exit code 2.

Anything a user can cause (a bad data file, a wrong override, a missing model path) raises a
subclass of `UserError` carrying a message that names the file, field or option. Entry points
wrap their `main` in `exit_on_user_error`, which prints `error: <message>` to stderr and exits
with status 2 instead of a traceback. Programming errors still raise normally.
"""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)


class UserError(Exception):
    """Something the user can fix: the message says what and where."""


class DataError(UserError):
    """A data file is malformed: the message names the file and the line."""


class ConfigError(UserError):
    """A config value or override is wrong: the message names the key."""


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the last good checkpoint is left intact."""


def exit_on_user_error(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]
