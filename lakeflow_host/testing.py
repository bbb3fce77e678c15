"""Helpers for testing lakeflow plugins.

``make_plugin_manager(my_plugin)`` gives a manager with lakeflow's hookspecs and exactly the
plugins you pass (no entry points), so a plugin's hooks can be called and checked in isolation.
"""

from __future__ import annotations

from lakeflow_host.plugins import make_plugin_manager

__all__ = ["make_plugin_manager"]
