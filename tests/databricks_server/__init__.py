"""A Databricks-compatible HTTP server for tests: Jobs 2.2, Workspace, Files and Secrets APIs on 127.0.0.1.

See README.md beside this file for what it emulates and the strict choices it makes.
"""

from .app import USER, DatabricksServer, Faults, Recorded

__all__ = ["USER", "DatabricksServer", "Faults", "Recorded"]
