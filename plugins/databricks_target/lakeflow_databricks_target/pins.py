"""The project's locked versions on a job: the pins from uv.lock travel as ``requirements.txt``
beside the wheels (inside the content-addressed upload directory, so a changed pin gives a new
directory), and ``jobs/create`` lists them as exact-version libraries.

Classic clusters get one ``pypi`` library per pin: the SDK documents an exact version spec in
``PythonPyPiLibrary.package`` ("simplejson==3.8.0", databricks/sdk/service/compute.py), which
works on every runtime, whereas a ``requirements`` file library needs Databricks Runtime 15.0+.
Serverless gets the pins as environment ``dependencies``, each "a valid pip requirements file
line" (compute.py ``Environment.dependencies``). Pins come before the wheels, so that the
wheels' loose requirements are already satisfied by the locked versions whatever the install order.
"""

from __future__ import annotations

from typing import Any

#: The pins' file name inside an upload directory.
REQUIREMENTS = "requirements.txt"


def read(client: Any, artifact: str) -> list[str]:
    """The pins uploaded with ``artifact`` (one requirement a line); none when it has no lock."""
    from lakeflow_databricks_target.upload import read_beside

    data = read_beside(client, artifact, REQUIREMENTS)
    lines = (line.strip() for line in (data or b"").decode("utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def apply(settings: dict, pinned: list[str]) -> dict:
    """``settings`` (a jobs/create body) with ``pinned`` installed before the wheels."""
    if not pinned:
        return settings
    for env in settings.get("environments") or []:
        spec = env["spec"]
        spec["dependencies"] = [*pinned, *spec.get("dependencies", [])]
    for task in settings["tasks"]:
        if "libraries" in task:
            task["libraries"] = [*({"pypi": {"package": pin}} for pin in pinned), *task["libraries"]]
    return settings
