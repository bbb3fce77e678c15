"""Plugin options: what a builder or target declares, and how the host checks what users give.

A plugin declares each setting it reads as an :class:`Option` in its :class:`BuilderInfo` or
:class:`TargetInfo`. The host then owns everything around it: ``-o KEY=VALUE`` and ``--flag``
parsing on the CLI, the MCP tool schemas, ``lakeflow plugins`` and ``--help`` listings, the
environment variable, the default, type conversion and the one-line error for a key nobody
declared. A plugin's hooks receive only its own options, already converted to their declared
type, with declared defaults filled in.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lakeflow_host.errors import LakeflowError

#: The stages an option can shape. ``any`` is every command of the plugin's kind; ``launch``
#: takes every stage's options.
STAGES = ("any", "build", "upload", "job", "run")

_TYPES: tuple[type, ...] = (str, int, float, bool)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclasses.dataclass(frozen=True)
class Option:
    """One setting a builder or target reads.

    :ivar name: the key in ``-o NAME=VALUE`` (lowercase, ``_`` between words).
    :ivar help: one line for ``--help``, ``lakeflow plugins`` and the MCP schema.
    :ivar type: ``str``, ``int``, ``float`` or ``bool``; the hook receives a value of this type.
    :ivar choices: the only values allowed (compared case-insensitively; the hook receives the
        spelling declared here).
    :ivar default: what the hook receives when the user gives nothing; ``None`` leaves the key out.
    :ivar envvar: an environment variable read when neither ``-o`` nor the flag is given.
    :ivar secret: the value is never echoed back, in errors, ``--help`` or MCP output.
    :ivar flag: also offered as ``--name-with-dashes`` on the commands of its stages (a ``bool``
        option becomes an on/off switch).
    :ivar stages: which commands it shapes: ``"build"`` (build-wheel), ``"upload"``
        (upload-wheel), ``"job"`` (create-job), ``"run"`` (trigger-run), or ``"any"``.
    :ivar minimum: for ``int`` and ``float``: the smallest value allowed.
    :ivar maximum: for ``int`` and ``float``: the largest value allowed.
    """

    name: str
    help: str
    type: type = str
    choices: tuple[str, ...] = ()
    default: Any = None
    envvar: str | None = None
    secret: bool = False
    flag: bool = False
    stages: tuple[str, ...] = ("any",)
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise TypeError(f"option {self.name!r}: type must be one of str, int, float, bool")
        unknown = set(self.stages) - set(STAGES)
        if unknown:
            raise TypeError(f"option {self.name!r}: unknown stages {sorted(unknown)} (known: {', '.join(STAGES)})")

    @property
    def flag_name(self) -> str:
        """The CLI flag, e.g. ``--node-type`` for ``node_type``."""
        return "--" + self.name.replace("_", "-")

    def applies_to(self, stage: str) -> bool:
        return stage == "launch" or "any" in self.stages or stage in self.stages

    def convert(self, raw: object, owner: str) -> Any:
        """``raw`` (a string from the command line or environment, or a TOML/JSON value) as
        this option's type; a bad value is one line naming the option and what it takes."""
        shown = "the given value" if self.secret else repr(raw)
        where = f"option {self.name!r} of {owner}"
        if self.type is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise LakeflowError(f"{where} takes true or false, not {shown}; e.g. -o {self.name}=true")
        if self.type in (int, float):
            if isinstance(raw, bool):
                raise LakeflowError(f"{where} takes a number, not {shown}; e.g. -o {self.name}=4")
            try:
                value = self.type(raw) if not isinstance(raw, str) else self.type(raw.strip())
            except (TypeError, ValueError, OverflowError):
                kind = "a whole number" if self.type is int else "a number"
                raise LakeflowError(f"{where} takes {kind}, not {shown}; e.g. -o {self.name}=4") from None
            if self.type is float and value != value:  # NaN
                raise LakeflowError(f"{where} takes a number, not {shown}; e.g. -o {self.name}=4")
            low, high = self.minimum, self.maximum
            if (low is not None and value < low) or (high is not None and value > high):
                bounds = (
                    f"from {low:g}"
                    if high is None
                    else f"from {low:g} to {high:g}"
                    if low is not None
                    else f"up to {high:g}"
                )
                raise LakeflowError(f"{where} takes a value {bounds}, not {shown}")
            return value
        text = raw if isinstance(raw, str) else str(raw)
        if "\x00" in text:
            raise LakeflowError(f"{where} contains a NUL byte; remove it")
        if self.choices:
            for choice in self.choices:
                if choice.lower() == text.strip().lower():
                    return choice
            raise LakeflowError(f"{where} takes one of {', '.join(self.choices)}, not {shown}")
        return text


def parse_items(items: Iterable[str]) -> dict[str, str]:
    """``-o KEY=VALUE`` strings as a dict; a malformed one is an error naming the fix."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise LakeflowError(f"-o {item.split('=', 1)[0]!r}... is not KEY=VALUE; write it as -o key=value")
        values[key.strip()] = value
    return values


#: The command each stage names in messages.
_COMMANDS = {"build": "build-wheel", "upload": "upload-wheel", "job": "create-job", "run": "trigger-run"}


def resolve(
    given: Mapping[str, object],
    owners: Sequence[tuple[str, Sequence[Option]]],
    stage: str = "any",
    *,
    elsewhere: Mapping[str, str] | None = None,
    defaults: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Split and convert the options the user gave among the plugins that will see them.

    :param given: keys the user set (command line, MCP, API), raw values.
    :param owners: ``(description, declared options)`` for each plugin in play, e.g.
        ``("builder uv", (...))``; a key may belong to several of them.
    :param stage: the command's stage (see :data:`STAGES`, or ``"launch"`` for all of them).
    :param elsewhere: for keys that only plugins not in play declare, which one does (so that
        ``--serverless`` on the local target names the target it belongs to).
    :param defaults: values from the project's configuration, used below ``given`` and the
        environment; keys no owner declares are ignored here (the config reader checks them).
    :return: one dict per owner, in order: its options for this stage, converted, with
        environment values and declared defaults filled in.
    """
    env = os.environ if environ is None else environ
    in_stage = [(desc, [opt for opt in declared if opt.applies_to(stage)]) for desc, declared in owners]
    known = {opt.name for _, declared in in_stage for opt in declared}
    for key in given:
        if key in known:
            continue
        described = " or ".join(desc for desc, _ in owners) or "this command"
        for desc, declared in owners:
            for opt in declared:
                if opt.name == key:
                    commands = " and ".join(_COMMANDS[s] for s in opt.stages if s in _COMMANDS)
                    raise LakeflowError(
                        f"option {key!r} of {desc} shapes {commands} (and launch), not this command; pass it there"
                    )
        hint = f"; it is an option of {elsewhere[key]}" if elsewhere and key in elsewhere else ""
        available = ", ".join(sorted(known)) or "none"
        raise LakeflowError(f"unknown option {key!r} for {described} (available: {available}){hint}")
    result: list[dict[str, Any]] = []
    for description, declared in in_stage:
        values: dict[str, Any] = {}
        for opt in declared:
            if opt.name in given:
                values[opt.name] = opt.convert(given[opt.name], description)
            elif opt.envvar and env.get(opt.envvar):
                values[opt.name] = opt.convert(env[opt.envvar], f"{description} (from ${opt.envvar})")
            elif defaults and opt.name in defaults:
                values[opt.name] = opt.convert(defaults[opt.name], f"{description} (from pyproject.toml)")
            elif opt.default is not None:
                values[opt.name] = opt.default
        result.append(values)
    return result
