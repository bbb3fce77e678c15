"""Checks of what users pass to the API, before anything is built, stored or sent."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence

from lakeflow_host.errors import LakeflowError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def read_env_vars(names: Iterable[str]) -> dict[str, str]:
    """The local values of ``names``; an unset or malformed name is an error naming it."""
    values: dict[str, str] = {}
    for name in names:
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            # Often a value pasted where the name belongs: never echo it back.
            raise LakeflowError(
                "an --env-var name is not a valid environment variable name; pass the NAME "
                "(letters, digits and _, not starting with a digit), not its value"
            )
        if name not in os.environ:
            raise LakeflowError(
                f"environment variable {name} is not set; export {name}=... before passing --env-var {name}"
            )
        values[name] = os.environ[name]
    return values


#: Larger counts are typos, and SQLite and most APIs refuse them anyway.
_MAX_COUNT = 1_000_000


def _positive(value: int | None, flag: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_COUNT:
        shown = repr(value) if isinstance(value, int) and not isinstance(value, bool) and value < 10**12 else "that"
        raise LakeflowError(f"{flag} must be a whole number from 1 to {_MAX_COUNT:,}, not {shown}")


def _job_inputs(max_workers: int, max_concurrent_runs: int | None, env_vars: Sequence[str]) -> dict[str, str]:
    """The job's numbers checked, and its env values read."""
    _positive(max_workers, "--max-workers")
    _positive(max_concurrent_runs, "--max-concurrent-runs")
    return read_env_vars(_names(env_vars, "env_vars"))


def _names(values: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(values, (str, bytes)):
        raise LakeflowError(f'{what} must be a list of names, not one string; pass a list such as ["NAME"]')
    return tuple(values)


def _arg_list(args: Sequence[str]) -> tuple[str, ...]:
    if isinstance(args, (str, bytes)):
        raise LakeflowError(
            'a run\'s arguments must be a list of strings, not one string; pass ["..."] or shlex.split(...)'
        )
    return tuple(args)
