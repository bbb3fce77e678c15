"""Which builder and target a command uses, and the options each of them receives."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lakeflow_host import options as _options
from lakeflow_host import project_config
from lakeflow_host.errors import LakeflowError
from lakeflow_host.plugins import get_host
from lakeflow_host.project_config import ProjectConfig

BUILDER_ENV = "LAKEFLOW_BUILDER"
TARGET_ENV = "LAKEFLOW_TARGET"
DEFAULT_BUILDER = "uv"
FALLBACK_TARGET = "local"

#: What users give: ``-o`` strings, or typed values from Python and MCP.
Options = Mapping[str, Any]


def builders() -> list[str]:
    """The names ``--builder`` accepts."""
    return sorted(get_host().builder_infos)


def targets() -> list[str]:
    """The names ``--target`` accepts."""
    return sorted(get_host().target_infos)


def project(project_dir: str | Path | None = None) -> ProjectConfig:
    """The ``[tool.lakeflow]`` defaults of the project at ``project_dir`` (else of the nearest
    ``pyproject.toml`` from the current directory up), checked against the installed plugins."""
    config = project_config.find(project_dir)
    if config.options:
        host = get_host()
        declared = {
            name: {opt.name for opt in info.options}
            for infos in (host.builder_infos, host.target_infos)
            for name, (info, _plugin) in infos.items()
        }
        project_config.check_options(config, declared)
    return config


def resolve_builder(builder: str | None = None, config: ProjectConfig | None = None) -> str:
    """The builder to use: the argument, else ``$LAKEFLOW_BUILDER``, else the project's
    ``[tool.lakeflow] builder``, else ``uv``; checked."""
    name = builder or os.environ.get(BUILDER_ENV) or (config or project()).builder or DEFAULT_BUILDER
    get_host().builder(name)
    return name


def resolve_target(
    target: str | None = None, options: Options | None = None, config: ProjectConfig | None = None
) -> str:
    """The target to use: the argument, else ``$LAKEFLOW_TARGET``, else the project's
    ``[tool.lakeflow] target``, else the one target that says it is configured (e.g. a
    workspace), else ``local``; checked."""
    host = get_host()
    name = target or os.environ.get(TARGET_ENV) or (config or project()).target
    if name:
        host.target(name)
        return name
    given = dict(options or {})
    configured = []
    for candidate, (info, _plugin) in sorted(host.target_infos.items()):
        own = declared_by_target(candidate, given)
        if host.target_is_configured(
            candidate,
            _options.resolve(
                own,
                [(f"target {candidate}", info.options)],
                "launch",
                defaults=(config or project()).options_for(candidate),
            )[0],
        ):
            configured.append(candidate)
    if len(configured) > 1:
        raise LakeflowError(
            f"targets {' and '.join(configured)} are all configured; choose one with --target or {TARGET_ENV}"
        )
    name = configured[0] if configured else FALLBACK_TARGET
    host.target(name)
    return name


def _elsewhere(skip: set[str]) -> dict[str, str]:
    host = get_host()
    found: dict[str, str] = {}
    for kind, infos in (("builder", host.builder_infos), ("target", host.target_infos)):
        for name, (info, _plugin) in infos.items():
            if name in skip:
                continue
            for opt in info.options:
                found.setdefault(opt.name, f"{kind} {name}")
    return found


def target_options(
    target: str, options: Options | None, stage: str = "any", config: ProjectConfig | None = None
) -> dict[str, Any]:
    """``options`` checked against what ``target`` declares for ``stage``, converted, with its
    environment variables, the project's defaults and declared defaults filled in; what the
    target's hooks receive."""
    info = get_host().target(target)
    given = dict(options or {})
    defaults = (config or project()).options_for(target)
    return _options.resolve(
        given, [(f"target {target}", info.options)], stage, elsewhere=_elsewhere({target}), defaults=defaults
    )[0]


def declared_by_target(target: str, options: Options | None) -> dict[str, Any]:
    """The part of ``options`` that ``target`` declares (``launch`` mixes builder and target keys)."""
    names = {opt.name for opt in get_host().target(target).options}
    return {key: value for key, value in (options or {}).items() if key in names}


def builder_options(builder: str, options: Options | None, config: ProjectConfig | None = None) -> dict[str, Any]:
    """Like :func:`target_options`, for a builder."""
    info = get_host().builder(builder)
    given = dict(options or {})
    defaults = (config or project()).options_for(builder)
    return _options.resolve(
        given, [(f"builder {builder}", info.options)], "build", elsewhere=_elsewhere({builder}), defaults=defaults
    )[0]


def launch_options(
    builder: str, target: str, options: Options | None, config: ProjectConfig | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    host = get_host()
    config = config or project()
    owners = [(f"builder {builder}", host.builder(builder).options), (f"target {target}", host.target(target).options)]
    # Each owner reads its own table; resolve() takes one mapping, and a key declared by both
    # the builder and the target takes the target's value.
    defaults = {**config.options_for(builder), **config.options_for(target)}
    built, targeted = _options.resolve(
        dict(options or {}), owners, "launch", elsewhere=_elsewhere({builder, target}), defaults=defaults
    )
    return built, targeted
