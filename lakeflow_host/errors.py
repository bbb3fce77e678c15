"""The one exception family for expected failures.

Anything raised as :class:`LakeflowError` is shown to the user as one line (CLI), or as a tool
error (MCP), with no traceback. Any other exception is a bug and keeps its traceback.
Plugins raise :class:`LakeflowError` (or a subclass) for every failure the user can fix.
"""

from __future__ import annotations

from collections.abc import Iterable


class LakeflowError(Exception):
    """An expected failure whose message names the problem and the fix, in one line."""


class PluginLoadError(LakeflowError):
    """A plugin's entry point could not be imported or registered."""


class UnknownNameError(LakeflowError):
    """A builder or target name that no loaded plugin answers to."""

    def __init__(self, kind: str, name: str, available: Iterable[str]) -> None:
        names = ", ".join(sorted(available)) or "none"
        flag = f"--{kind}"
        super().__init__(f"Unknown {kind}: {name} (available: {names}); pass one of them to {flag}")
        self.kind, self.name = kind, name


class UnsupportedOperationError(LakeflowError):
    """A target or builder that does not implement the requested operation."""


class NotFoundError(LakeflowError):
    """An unknown job id, run id or artifact path."""


class WaitTimeoutError(LakeflowError):
    """``wait`` gave up before every run ended; the runs carry on (the CLI exits with 3)."""
