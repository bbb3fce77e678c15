"""Is a Databricks workspace configured? Answered from local facts only, cheaply: every lakeflow
command asks when no target is named, and must not pay for the SDK or the network."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def config_file() -> Path:
    return Path(os.environ.get("DATABRICKS_CONFIG_FILE") or "~/.databrickscfg").expanduser()


def workspace_configured(options: Mapping[str, str]) -> bool:
    """True when a workspace is configured, from local facts only (no SDK import, no network)."""
    if options.get("profile") or os.environ.get("DATABRICKS_HOST") or os.environ.get("DATABRICKS_CONFIG_PROFILE"):
        return True
    path = config_file()
    if not path.is_file():  # the usual case for a local-only user: no configparser to import
        return False
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path)
    except configparser.Error:
        return False
    default = parser.get("__settings__", "default_profile", fallback="DEFAULT")
    if default == "DEFAULT":
        return bool(parser.defaults().get("host"))
    return parser.has_section(default) and bool(parser.get(default, "host", fallback=""))
