"""How ``create-job`` and ``launch`` read their command lines: several names after one
``--env-var``, lakeflow's options on either side of ``PROJECT_DIR``, and ``--runs-from`` files."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from lakeflow_host.errors import LakeflowError

#: Context settings of the commands whose task arguments pass through untouched after their own.
VERBATIM = {"ignore_unknown_options": True, "allow_interspersed_args": False}

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class EnvVarCommand(click.Command):
    """Lets ``--env-var A B C`` name several variables, as the seed workflow's scripts do."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        taken: int | None = None  # names the current --env-var has taken; None outside one
        for arg in [*args, None]:
            if taken is not None and arg is not None and not arg.startswith("-"):
                rewritten += ["--env-var", arg]
                taken += 1
                continue
            if taken == 0:
                raise click.UsageError("--env-var needs at least one NAME, e.g. --env-var MY_SECRET_KEY", ctx)
            taken = 0 if arg == "--env-var" else None
            if arg is not None and taken is None:
                rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


class LaunchCommand(click.Command):
    """``launch PROJECT_DIR [OPTIONS] [ARGS]...``: lakeflow's own options may come before or after
    PROJECT_DIR, until the first task argument (or ``--``); from there on, everything reaches the
    task verbatim."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value: dict[str, bool] = {}
        for param in self.get_params(ctx):
            if isinstance(param, click.Option):
                for name in (*param.opts, *param.secondary_opts):
                    takes_value[name] = not param.is_flag and not param.count
        ours: list[str] = []
        rest = list(args)
        project: str | None = None
        while rest:
            token = rest[0]
            name = token.split("=", 1)[0]
            if name not in takes_value:
                if project is None and token.startswith("-"):
                    return super().parse_args(ctx, args)  # `--`, or an unknown option: click's words
                if project is not None:
                    if token == "--":
                        rest.pop(0)
                    break
                project = rest.pop(0)
                continue
            ours.append(rest.pop(0))
            if takes_value[name] and "=" not in token and rest:
                ours.append(rest.pop(0))
            if name == "--env-var" and project is None:
                # `--env-var A B PROJECT` names several, as in create-job; a folder is the project.
                # After PROJECT, the next word may be the task's first argument: one name only.
                while rest and _ENV_NAME.match(rest[0]) and not Path(rest[0]).is_dir():
                    ours += ["--env-var", rest.pop(0)]
        if project is None:
            return super().parse_args(ctx, args)
        return super().parse_args(ctx, [*ours, project, *rest])


def read_runs_file(path: str) -> list[list[str]]:
    import shlex  # only --runs-from needs it

    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except OSError as exc:
        raise LakeflowError(f"cannot read --runs-from {path}: {exc.strerror}; pass an existing file") from exc
    arg_lists = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            arg_lists.append(shlex.split(line))
        except ValueError as exc:
            raise LakeflowError(f"{path}:{number}: {exc}; quote arguments as in a shell") from exc
    if not arg_lists:
        raise LakeflowError(f"--runs-from {path} has no runs; write one run's arguments per line")
    return arg_lists
