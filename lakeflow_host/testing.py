"""Helpers for testing lakeflow plugins.

``registered(my_plugin, "name")`` registers a plugin module or object in this process for the
duration of a ``with`` block, beside the installed plugins, so that the public API
(``lakeflow_host.build_wheel(..., builder="mine")``) reaches it exactly as it would once
installed. ``make_plugin_manager(my_plugin)`` gives a bare manager with lakeflow's hookspecs and
exactly the plugins you pass, to call a hook directly.
"""

from __future__ import annotations

from lakeflow_host.plugins import make_plugin_manager, registered

__all__ = ["make_plugin_manager", "registered"]
