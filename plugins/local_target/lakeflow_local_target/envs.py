"""Artifacts and environments of the local target.

Uploaded files are stored content-addressed: ``artifacts/<hash of the file set>/<file>``, so
uploading the same bytes again copies nothing and a job always sees exactly what was uploaded.
Each artifact set gets one venv, created with uv when the first job uses it and shared by every
run of every job that uses the same set; runs themselves install nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lakeflow_host import (
    TASK_ENTRY_POINT,
    LakeflowError,
    file_sha256,
    normalize_name,
    uv_binary,
    wheel_task_entry_point,
)

if TYPE_CHECKING:
    from lakeflow_host import Artifact, RemoteArtifact

ENTRY_POINT = TASK_ENTRY_POINT
_COMPLETE = ".lakeflow-complete"
#: The artifact's pins from uv.lock, stored under one name in each artifact folder.
REQUIREMENTS = "requirements.txt"

# Runs the main wheel's own `lakeflow-task` entry point, the way Databricks' python_wheel_task
# does: its `module:function` is read from that wheel (see `task_entry_point`), so a companion
# wheel declaring the same script cannot shadow it. Importing it directly, instead of finding it
# with importlib.metadata in every run, saves each run ~50 ms of CPU.
# Before the user's arguments comes a file descriptor from its supervisor holding the launch
# plan (see ``launch_plan``): where to write the exit code; a "lifeline" pipe that reads EOF
# when the supervisor dies, upon which a thread of the task takes over copying its output to the
# log (redacted), so that the task never writes into a broken pipe; and what to exec once the
# task is done if the supervisor is gone by then.
# Every run pays for what this imports before the task's own code: so no json (the plan is
# NUL-separated bytes, which argv and environments cannot hold), no threading (``_thread`` is
# built in) and no importlib; together about a tenth of a trivial run's CPU.
_LAUNCHER = (
    "import os, sys, _thread\n"
    "entry, plan_fd = sys.argv[1], int(sys.argv[2])\n"
    "plan = b''.join(iter(lambda: os.read(plan_fd, 1 << 16), b'')).split(b'\\0')\n"
    "os.close(plan_fd)\n"
    f"sys.argv = [{ENTRY_POINT!r}] + sys.argv[3:]\n"
    "parent, status_fd, log_fd, lifeline_fd, output_fd = map(int, plan[:5])\n"
    "n = int(plan[5])\n"
    "names, plan = plan[6:6 + n], plan[6 + n:]\n"
    "n = int(plan[0])\n"
    "adopt_argv, adopt_env = plan[1:1 + n], dict(v.split(b'=', 1) for v in plan[1 + n:])\n"
    "for fd in (status_fd, log_fd, lifeline_fd, output_fd):\n"
    "    os.set_inheritable(fd, False)\n"
    "secrets = sorted({os.environb[n] for n in names if os.environb.get(n)}, key=len, reverse=True)\n"
    "kept = _thread.allocate_lock()\n"
    "kept.acquire()\n"
    "def _keep_logging():\n"
    "    try:\n"
    "        os.read(lifeline_fd, 1)\n"
    "        held = b''\n"
    "        while True:\n"
    "            data = os.read(output_fd, 1 << 16)\n"
    "            if not data:\n"
    "                os.write(log_fd, held)\n"
    "                return\n"
    "            data = held + data\n"
    "            for value in secrets:\n"
    "                data = data.replace(value, b'[REDACTED]')\n"
    "            keep = max([n for v in secrets for n in range(1, len(v)) if data.endswith(v[:n])] or [0])\n"
    "            held = data[len(data) - keep:] if keep else b''\n"
    "            os.write(log_fd, data[:len(data) - keep])\n"
    "    except OSError:\n"
    "        pass\n"
    "    finally:\n"
    "        kept.release()\n"
    "_thread.start_new_thread(_keep_logging, ())\n"
    "def _exit_code(value):\n"
    "    if value is None:\n"
    "        return 0\n"
    "    if isinstance(value, int) and not isinstance(value, bool):\n"
    "        return value & 0xFF\n"
    "    print(value, file=sys.stderr)\n"
    "    return 1\n"
    "try:\n"
    "    module, _, attrs = entry.partition(':')\n"
    "    __import__(module)\n"
    "    task = sys.modules[module]\n"
    "    for attr in filter(None, attrs.split('.')):\n"
    "        task = getattr(task, attr)\n"
    "    code = _exit_code(task())\n"
    "except SystemExit as exc:\n"
    "    code = _exit_code(exc.code)\n"
    "except BaseException:\n"
    "    import traceback\n"
    "    try:\n"
    "        traceback.print_exc()\n"
    "    except Exception:\n"
    "        pass\n"
    "    code = 1\n"
    "for stream in (sys.stdout, sys.stderr):\n"
    "    try:\n"
    "        stream.flush()\n"
    "    except Exception:\n"
    "        pass\n"
    "try:\n"
    "    os.write(status_fd, str(code).encode())\n"
    "except OSError:\n"
    "    pass\n"
    "if os.getppid() != parent:\n"
    "    try:\n"
    "        null = os.open(os.devnull, os.O_RDWR)\n"
    "        for fd in (0, 1, 2):\n"
    "            os.dup2(null, fd)\n"
    "        kept.acquire(timeout=2)  # let it copy what the task wrote last\n"
    "        os.execve(adopt_argv[0], adopt_argv, adopt_env)\n"
    "    except Exception:\n"
    "        pass\n"
    "sys.exit(code)\n"
)


def launch_plan(
    parent: int, fds: Sequence[int], secret_names: Sequence[str], argv: Sequence[str], env: Mapping[str, str]
) -> bytes:
    """What ``_LAUNCHER`` reads from its plan descriptor: the supervisor's pid, the status, log,
    lifeline and output descriptors, the secrets' names, and the argv and environment to exec
    into if the supervisor is gone when the task ends."""
    fields = [str(parent), *map(str, fds), str(len(secret_names)), *secret_names, str(len(argv)), *argv]
    fields += [f"{name}={value}" for name, value in env.items()]
    return b"\0".join(map(os.fsencode, fields))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def upload(root: Path, artifact: Artifact) -> RemoteArtifact:
    """Copy the artifact's files into the store unless the same set is there already."""
    from lakeflow_host import RemoteArtifact  # the result types load on first use; supervisors need none

    # The pins are part of the set's identity: a changed pin gives a new folder, and a new venv.
    files = [(path, path.name) for path in (artifact.path, *artifact.companions)]
    if artifact.requirements is not None:
        files.append((artifact.requirements, REQUIREMENTS))
    digest = hashlib.sha256()
    for path, name in files:
        digest.update(f"{name}\0{file_sha256(path)}\0".encode())
    folder = root / "artifacts" / digest.hexdigest()[:24]
    copied = 0
    if not (folder / _COMPLETE).exists():
        with _locked(root / "locks" / f"artifact-{folder.name}.lock"):
            if not (folder / _COMPLETE).exists():
                folder.mkdir(parents=True, exist_ok=True)
                for path, name in files:
                    shutil.copyfile(path, folder / name)
                    copied += path.stat().st_size
                (folder / _COMPLETE).touch()
    return RemoteArtifact(
        "local", str(folder / artifact.path.name), tuple(str(folder / c.name) for c in artifact.companions), copied
    )


def artifact_files(root: Path, remote_path: str) -> tuple[Path, list[Path]]:
    """The main file and the companion wheels uploaded with it; checked."""
    main = Path(remote_path).expanduser()
    store = (root / "artifacts").resolve()
    if not main.is_file():
        raise LakeflowError(
            f"no uploaded artifact at {remote_path}; pass the path that `lakeflow upload-wheel` printed"
        )
    if main.resolve().parent.parent != store or not (main.parent / _COMPLETE).exists():
        raise LakeflowError(
            f"{remote_path} was not uploaded to the local target; run `lakeflow upload-wheel` first "
            "and pass the path it prints"
        )
    if main.suffix not in (".whl", ".pex"):
        raise LakeflowError(f"{remote_path} is not a wheel (.whl) or a PEX (.pex); upload the built wheel")
    companions = sorted(p for p in main.parent.glob("*.whl") if p != main)
    return main, companions


def check_wheel(main: Path, package: str) -> None:
    """The wheel must be ``package`` and declare the ``lakeflow-task`` entry point."""
    dist_name = main.name.split("-")[0]
    if normalize_name(dist_name) != normalize_name(package):
        raise LakeflowError(
            f"package {package!r} is not the one in {main.name} (it holds {dist_name!r}); pass {dist_name} as PACKAGE"
        )
    task_entry_point(main)


def task_entry_point(main: Path) -> str:
    """The wheel's own ``lakeflow-task`` entry point, as ``module:function``; checked."""
    return wheel_task_entry_point(main)


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def env_dir(root: Path, main: Path) -> Path:
    return root / "envs" / main.parent.name


def prepare_env(root: Path, main: Path, companions: list[Path]) -> Path:
    """The venv holding the artifact set, created once (several processes may ask at once)."""
    venv = env_dir(root, main)
    if (venv / _COMPLETE).exists():
        return venv
    with _locked(root / "locks" / f"env-{venv.name}.lock"):
        if (venv / _COMPLETE).exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        uv = uv_binary()
        steps = [
            [uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
            # Every wheel of the set is named explicitly, so a path dependency is satisfied by
            # its uploaded wheel and never looked up on an index; the pins, when the project
            # locked them, fix every other version.
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(_venv_python(venv)),
                *_pins_args(main),
                str(main),
                *map(str, companions),
            ],
        ]
        for command in steps:
            proc = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if proc.returncode != 0:
                tail = " | ".join(proc.stderr.strip().splitlines()[-15:])
                raise LakeflowError(f"creating the job's environment failed: {tail}")
        (venv / _COMPLETE).touch()
    return venv


def _pins_args(main: Path) -> list[str]:
    pins = main.parent / REQUIREMENTS
    return ["-r", str(pins)] if pins.is_file() else []


def check_python(main: Path) -> None:
    """The wheel's Requires-Python must admit the interpreter job venvs are made with."""
    import platform  # here: every run's supervisor imports this module, only job creation needs it

    from packaging.specifiers import InvalidSpecifier, SpecifierSet  # packaging comes with hatchling

    with zipfile.ZipFile(main) as wheel:
        names = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = wheel.read(names[0]).decode("utf-8", "replace") if names else ""
    wanted = next(
        (line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Python:")), ""
    )
    if not wanted:
        return
    try:
        spec = SpecifierSet(wanted)
    except InvalidSpecifier:
        return  # the installer will say what is wrong with it
    found = platform.python_version()
    if not spec.contains(found, prereleases=True):
        raise LakeflowError(
            f"{main.name} requires Python {wanted}, but the local target makes job environments with Python "
            f"{found} ({sys.executable}); install lakeflow with a Python that satisfies it "
            "(`uv tool install --python <version> lakeflow-host`) or widen requires-python in pyproject.toml"
        )


def command(root: Path, kind: str, package: str, artifact: str) -> list[str]:
    """The command a run executes; the run's arguments are appended to it."""
    main, companions = Path(artifact), []
    if kind == "pex":
        return [sys.executable, str(main)]
    venv = env_dir(root, main)
    if not (venv / _COMPLETE).exists():
        _, companions = artifact_files(root, artifact)
        prepare_env(root, main, companions)
    return [str(_venv_python(venv)), "-c", _LAUNCHER, task_entry_point(main)]


def write_secrets(path: Path, values: dict[str, str]) -> None:
    """Env-var values, readable by this user only, outside the database."""
    import json

    from lakeflow_local_target import safety

    safety.private_dir(path.parent)
    safety.write_private(path, json.dumps(values).encode())
