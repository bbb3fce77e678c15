"""The options every command shares, and the ``--flags`` plugins declare.

A command's plugin flags come from the installed plugins' :class:`~lakeflow_host.Option`
declarations, added when the command is parsed or its help is shown, so that ``lakeflow --help``
loads no plugin and a third-party target's flag appears on the commands of its stages.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import click

from lakeflow_host import api
from lakeflow_host.errors import LakeflowError
from lakeflow_host.options import Option, parse_items

DEBUG_ENV = "LAKEFLOW_DEBUG"
QUIET_ENV = "LAKEFLOW_QUIET"
_FLAG_PREFIX = "plugin_flag__"


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        os.environ[DEBUG_ENV] = "1"


def set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        os.environ[QUIET_ENV] = "1"


def quiet() -> bool:
    return os.environ.get(QUIET_ENV, "") not in ("", "0")


def notice(message: str) -> None:
    """One of lakeflow's own remarks, on stderr; ``--quiet`` drops them (errors still print)."""
    if not quiet():
        click.echo(f"lakeflow: {message}", err=True)


def emit(value: Any, as_json: bool, text: str) -> None:
    """A command's value on stdout: ``text``, or ``value`` as JSON with ``--json``."""
    from lakeflow_host import render

    click.echo(render.as_json(value) if as_json else text)


def quiet_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        callback=set_quiet,
        is_eager=True,
        help="Print no notices or progress on stderr (errors still print).",
    )


def _declared(kinds: tuple[str, ...]) -> list[tuple[str, Option]]:
    """``(owner description, option)`` for every option of every installed plugin of ``kinds``."""
    from lakeflow_host.plugins import get_host

    host = get_host()
    found: list[tuple[str, Option]] = []
    for kind, infos in (("builder", host.builder_infos), ("target", host.target_infos)):
        if kind in kinds:
            for name, (info, _plugin) in sorted(infos.items()):
                found += [(f"{kind} {name}", opt) for opt in info.options]
    return found


class PluginOptionsCommand(click.Command):
    """A command whose plugin options (``--flags`` and the ``-o`` list in ``--help``) come from
    the plugins of ``kinds`` whose options apply to ``stage``."""

    def __init__(self, *args: Any, stage: str = "any", kinds: tuple[str, ...] = ("target",), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stage, self.kinds = stage, kinds
        self._plugin_params: list[click.Parameter] | None = None

    def plugin_params(self) -> list[click.Parameter]:
        if self._plugin_params is None:
            taken = {name for param in self.params for name in getattr(param, "opts", ())}
            by_flag: dict[str, tuple[Option, list[str]]] = {}
            for owner, opt in _declared(self.kinds):
                if opt.flag and opt.applies_to(self.stage) and opt.flag_name not in taken:
                    by_flag.setdefault(opt.flag_name, (opt, []))[1].append(owner.split(" ", 1)[1])
            params: list[click.Parameter] = []
            for flag, (opt, owners) in sorted(by_flag.items()):
                help_text = f"[{', '.join(owners)}] {opt.help}"
                if opt.type is bool:
                    params.append(
                        click.Option([flag, _FLAG_PREFIX + opt.name], is_flag=True, default=None, help=help_text)
                    )
                else:
                    metavar = "|".join(opt.choices) if opt.choices else {int: "N", float: "X"}.get(opt.type, "TEXT")
                    params.append(click.Option([flag, _FLAG_PREFIX + opt.name], metavar=metavar, help=help_text))
            self._plugin_params = params
        return self._plugin_params

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        # After the command's own options, before --help.
        return params[:-1] + self.plugin_params() + params[-1:]

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        by_owner: dict[str, list[tuple[str, str]]] = {}
        for owner, opt in _declared(self.kinds):
            if opt.applies_to(self.stage):
                by_owner.setdefault(owner, []).append((f"-o {opt.name}={_value_hint(opt)}", _describe(opt)))
        for owner, rows in by_owner.items():
            with formatter.section(f"Options of {owner} (-o KEY=VALUE)"):
                formatter.write_dl(rows)


def _value_hint(opt: Option) -> str:
    if opt.choices:
        return "|".join(opt.choices)
    return {bool: "true|false", int: "N", float: "X"}.get(opt.type, "VALUE")


def _describe(opt: Option) -> str:
    extra = []
    if opt.envvar:
        extra.append(f"env {opt.envvar}")
    if opt.default is not None and not opt.secret:
        extra.append(f"default: {str(opt.default).lower() if opt.type is bool else opt.default}")
    return opt.help + (f" [{'; '.join(extra)}]" if extra else "")


def command_class(stage: str, kinds: tuple[str, ...] = ("target",), base: type[click.Command] = click.Command) -> type:
    """A command class for ``@cli.command(cls=...)`` carrying plugin options of ``stage``."""

    class Command(PluginOptionsCommand, base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, stage=stage, kinds=kinds, **kwargs)

    return Command


def collect_options(given: tuple[str, ...], kwargs: dict[str, Any]) -> dict[str, str | bool]:
    """``-o`` items and plugin ``--flags`` as one dict; the same key given both ways is an error."""
    options: dict[str, str | bool] = dict(parse_items(given))
    for key in [k for k in kwargs if k.startswith(_FLAG_PREFIX)]:
        value = kwargs.pop(key)
        if value is None:
            continue
        name = key[len(_FLAG_PREFIX) :]
        if name in options and options[name] != value:
            raise LakeflowError(
                f"{name} is given both as -o {name}=... and as --{name.replace('_', '-')}; give it once"
            )
        options[name] = value
    return options


def common(*, target: bool = True, builder: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options every command shares; the wrapped function receives ``options`` and ``as_json``."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, option: tuple[str, ...], as_json: bool, **kwargs: Any) -> Any:
            options = collect_options(option, kwargs)
            if "target" in kwargs:
                config = api.project(kwargs.get("project_dir"))
                kwargs["target"] = api.resolve_target(kwargs["target"], options, config)
                notice(f"target {kwargs['target']}")
            return fn(*args, options=options, as_json=as_json, **kwargs)

        params = [
            click.option("--json", "as_json", is_flag=True, help="Print structured JSON instead of text."),
            click.option(
                "-o",
                "--option",
                multiple=True,
                metavar="KEY=VALUE",
                help="A plugin's setting (repeatable); each plugin's are listed below.",
            ),
            click.option(
                "--debug",
                is_flag=True,
                expose_value=False,
                callback=set_debug,
                is_eager=True,
                help="Show tracebacks for errors.",
            ),
            quiet_option(),
        ]
        if target:
            params.append(
                click.option(
                    "--target",
                    metavar="NAME",
                    envvar="LAKEFLOW_TARGET",
                    help="Where jobs run [env LAKEFLOW_TARGET; default: [tool.lakeflow] target, else the "
                    "configured one, else local].",
                )
            )
        if builder:
            params.append(
                click.option(
                    "--builder",
                    metavar="NAME",
                    envvar="LAKEFLOW_BUILDER",
                    help="How projects are built [env LAKEFLOW_BUILDER; default: [tool.lakeflow] builder, else uv].",
                )
            )
        for param in reversed(params):
            wrapper = param(wrapper)
        return wrapper

    return decorate


def _completion_target() -> str | None:
    """The target ids are completed from: only the embedded default target, whose state is on
    this machine; asking a remote service on every Tab would be slow."""
    try:
        name = api.resolve_target()
    except Exception:  # noqa: BLE001 - completion must never print an error into the shell
        return None
    return name if name == api.FALLBACK_TARGET else None


def complete_job_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    from click.shell_completion import CompletionItem

    target = _completion_target()
    if target is None:
        return []
    try:
        jobs = api.list_jobs(target=target)
    except Exception:  # noqa: BLE001
        return []
    return [CompletionItem(j.job_id, help=j.name) for j in jobs if j.job_id.startswith(incomplete)]


def complete_run_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    from click.shell_completion import CompletionItem

    target = _completion_target()
    if target is None:
        return []
    try:
        runs = api.list_job_runs(limit=200, target=target)
    except Exception:  # noqa: BLE001
        return []
    return [CompletionItem(r.run_id, help=r.state.value) for r in runs if r.run_id.startswith(incomplete)]
