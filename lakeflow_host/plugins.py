"""The plugin manager, built on first use and never at import."""

from __future__ import annotations

import contextlib
import os
import types
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pluggy

from lakeflow_host import hookspecs
from lakeflow_host.errors import LakeflowError, PluginLoadError

GROUP = "lakeflow"
DISABLE_ENV = "LAKEFLOW_DISABLE_PLUGINS"

if TYPE_CHECKING:
    from importlib import metadata

    from lakeflow_host.discovery import EntryPoint
    from lakeflow_host.host import PluginHost

_pm: pluggy.PluginManager | None = None
_host: PluginHost | None = None
_distributions: dict[str, tuple[str, str]] = {}


#: What pluggy can take as a hook implementation (its ``_static_hook_attr``).
_HOOKABLE = (types.FunctionType, types.MethodType, classmethod, staticmethod)


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, looking up a plugin module's hook implementations in its ``__dict__``.

    pluggy examines every attribute of a plugin with :func:`inspect.getattr_static`, about 15 µs
    each, and every command registers every plugin; a plugin module's attributes are mostly its
    imports. A module attribute that is not a function (or method wrapper) is never a hook
    implementation for pluggy either, so it is skipped here without that look-up, and a plain
    function's options are read where :class:`pluggy.HookimplMarker` sets them.
    """

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> pluggy.HookimplOpts | None:
        if isinstance(plugin, types.ModuleType):
            value = plugin.__dict__.get(name)
            if not isinstance(value, _HOOKABLE):
                return None
            if isinstance(value, types.FunctionType):  # where HookimplMarker puts its options
                opts = getattr(value, f"{self.project_name}_impl", None)
                return opts if isinstance(opts, dict) else None
        return super().parse_hookimpl_opts(plugin, name)


def make_plugin_manager(*plugins: object) -> PluginManager:
    """A manager with the hookspecs and exactly ``plugins`` registered (no entry points)."""
    pm = PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    for plugin in plugins:
        pm.register(plugin)
    pm.check_pending()
    return pm


def disabled_plugins() -> set[str]:
    return {name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()}


def load_entry_points(pm: pluggy.PluginManager, entry_points: list[metadata.EntryPoint] | list[EntryPoint]) -> None:
    """Register each entry point's object under the entry point's name, blocking disabled ones."""
    for name in disabled_plugins():
        pm.set_blocked(name)
    for ep in entry_points:
        if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
            continue
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "an unknown distribution"
        if ep.dist:
            _distributions[ep.name] = (ep.dist.name, ep.dist.version)
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
            pm.check_pending()
        except LakeflowError:
            raise
        except Exception as exc:
            raise PluginLoadError(
                f"plugin {ep.name!r} from {dist} failed to load: {type(exc).__name__}: {exc}; "
                f"fix or uninstall it, or skip it with {DISABLE_ENV}={ep.name}"
            ) from exc


def distribution_of(plugin_name: str) -> tuple[str | None, str | None]:
    """(distribution, version) of the entry point a plugin was loaded from, if any."""
    return _distributions.get(plugin_name, (None, None))


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager with every installed ``lakeflow`` entry point loaded."""
    global _pm
    if _pm is None:
        pm = make_plugin_manager()
        from lakeflow_host.discovery import entry_points

        eps = entry_points()
        if not eps:
            raise LakeflowError(
                "no lakeflow plugins are installed (lakeflow-host is not installed?); "
                "run `pip install -e .` in the lakeflow checkout"
            )
        load_entry_points(pm, eps)
        _pm = pm
    return _pm


def get_host() -> PluginHost:
    """The process-wide :class:`~lakeflow_host.host.PluginHost` over :func:`get_plugin_manager`."""
    global _host
    if _host is None:
        from lakeflow_host.host import PluginHost

        _host = PluginHost(get_plugin_manager())
    return _host


def reset_plugin_manager() -> None:
    """Forget the cached manager, so that the next call reloads entry points."""
    global _pm, _host
    _pm = _host = None


@contextlib.contextmanager
def registered(plugin: object, name: str) -> Iterator[None]:
    """Register ``plugin`` (a module or object with hook implementations) in this process for
    the duration of a ``with`` block, beside the installed ones; for tests::

        with lakeflow_host.plugins.registered(MyTarget(), "my_target"):
            lakeflow_host.launch(...)
    """
    global _host
    pm = get_plugin_manager()
    pm.register(plugin, name=name)
    _host = None
    try:
        pm.check_pending()
        yield
    finally:
        pm.unregister(plugin)
        _host = None
