"""databricks-sdk is heavy (seconds to import): commands that do not use Databricks never load it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = """
import sys
from click.testing import CliRunner
from lakeflow_host.cli import cli
for args in (["--help"], ["plugins"], ["list-jobs"]):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, (args, result.output)
loaded = sorted(m for m in sys.modules if m.startswith("databricks"))
print("LOADED", loaded)
assert not loaded, loaded
"""


def test_local_commands_never_import_databricks_sdk(home: Path) -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
