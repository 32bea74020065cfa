"""Errors meant for the user, and the wrapper that turns them into one line and exit code 2.

Anything a user can cause (a bad data file, a wrong override, a missing model path) raises a
subclass of `UserError` carrying a message that names the file, field or option. Entry points
wrap their `main` in `exit_on_user_error`, which writes `error: <message>` to stderr (and to the
run's log file, through the ``funcall`` logger) and exits with status 2 instead of a traceback.
Programming errors still raise normally.

Under ``torchrun`` an error found alike on every rank (the config checks before a run starts, a
run folder in use) is raised with ``every_rank=True``: every rank exits 2, rank 0 alone says it,
so the user reads one line. Any other error is told by the rank that hit it.
"""
from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)


class UserError(Exception):
    """Something the user can fix: the message says what and where. ``every_rank``: raised alike
    on every rank (told once, by rank 0)."""

    def __init__(self, message: str, every_rank: bool = False):
        super().__init__(message)
        self.every_rank = every_rank


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
            logging.getLogger("funcall").error("error: %s", exc, extra={"every_rank": exc.every_rank})
            sys.exit(2)

    return wrapper  # type: ignore[return-value]
