"""The demo's `lakeflow-task` entry point: each run says which run it is and what it was given."""

import os
import platform
import sys


def main() -> None:
    run_id = os.environ.get("DATABRICKS_RUN_ID", "?")
    print(f"run {run_id}: hello from {platform.node()} (Python {platform.python_version()})")
    print(f"run {run_id}: my arguments are {sys.argv[1:]!r}")


if __name__ == "__main__":
    main()
