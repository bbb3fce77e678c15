"""Artifact sets of the ``ray`` target, and the runtime environment that installs them.

An uploaded set lives at ``artifacts/<digest>/lakeflow-<digest>/<wheels>`` on this machine,
where the digest covers every file's name and bytes, so uploading the same bytes again copies
nothing. ``artifacts/<digest>`` is each submission's ``working_dir``: Ray's SDK zips it, names
the zip after a hash of its contents and uploads it to the cluster's GCS only when the cluster
does not have it yet (``gcs://_ray_pkg_<hash>.zip``), and every node that runs the job unpacks it.
The runtime environment's ``pip`` field then installs every wheel of the set in ONE ``pip
install -r`` (Ray writes the packages into one requirements file), so a path dependency is
satisfied by its own wheel and never looked up on an index; ``py_modules`` would install the
wheels one by one. The digest is part of each wheel's path, so Ray's cache of pip environments
(keyed by the pip spec's text) never reuses an environment built from other bytes.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from lakeflow_host import (
    Artifact,
    LakeflowError,
    RemoteArtifact,
    file_sha256,
    normalize_name,
    parse_wheel_name,
    wheel_task_entry_point,
)
from lakeflow_ray_target import store

_COMPLETE = ".lakeflow-complete"
#: Ray sets it, while it creates a job's environment, to where the working_dir was unpacked
#: (ray/_private/runtime_env/working_dir.py, `with_working_dir_env`); pip expands ${VAR} in
#: requirements files.
_WORKING_DIR_VAR = "${RAY_RUNTIME_ENV_CREATE_WORKING_DIR}"
#: The exact pins of the project's lock (``Artifact.requirements``), installed in the same pip step.
PINS_FILE = "requirements.txt"


def upload(artifact: Artifact) -> RemoteArtifact:
    if artifact.kind != "wheel":
        raise LakeflowError(f"the ray target runs wheels, not {artifact.kind} files; build a wheel (e.g. --builder uv)")
    for path in artifact.files:
        if not path.is_file():
            raise LakeflowError(f"{path} does not exist; build it again with `lakeflow build-wheel`")
    # The pins are part of the set's identity: a changed pin gives a new folder (and a new
    # environment on the cluster).
    files = [(path, path.name) for path in (artifact.path, *artifact.companions)]
    if artifact.requirements is not None:
        files.append((artifact.requirements, PINS_FILE))
    digest = hashlib.sha256()
    for path, name in files:
        digest.update(f"{name}\0{file_sha256(path)}\0".encode())
    key = digest.hexdigest()[:24]
    folder = store.root() / "artifacts" / key
    folder_files = folder / f"lakeflow-{key}"
    copied = 0
    if not (folder / _COMPLETE).exists():
        with store.locked(f"artifact-{key}"):
            if not (folder / _COMPLETE).exists():
                shutil.rmtree(folder, ignore_errors=True)
                folder_files.mkdir(parents=True, mode=0o700)
                for path, name in files:
                    shutil.copyfile(path, folder_files / name)
                    copied += path.stat().st_size
                (folder / _COMPLETE).touch()
    return RemoteArtifact(
        store.NAME,
        str(folder_files / artifact.path.name),
        tuple(str(folder_files / c.name) for c in artifact.companions),
        copied,
    )


def check(remote_path: str, package: str) -> Path:
    """The uploaded main wheel at ``remote_path``: in the store, of ``package``, with the task
    entry point."""
    main = Path(remote_path).expanduser()
    artifacts = (store.root() / "artifacts").resolve()
    if not main.is_file():
        raise LakeflowError(
            f"no uploaded artifact at {remote_path}; pass the path that `lakeflow upload-wheel --target ray` printed"
        )
    folder = main.resolve().parent.parent
    if folder.parent != artifacts or not (folder / _COMPLETE).exists() or main.suffix != ".whl":
        raise LakeflowError(
            f"{remote_path} was not uploaded to the ray target; run `lakeflow upload-wheel --target ray` "
            "and pass the path it prints"
        )
    dist, _version = parse_wheel_name(main.name)
    if normalize_name(dist) != normalize_name(package):
        raise LakeflowError(f"package {package!r} is not the one in {main.name} (it holds {dist!r}); pass {dist}")
    wheel_task_entry_point(main)  # a wheel without one is refused here, not in every run
    return main.resolve()


def runtime_env(artifact: str, env_vars: dict[str, str]) -> dict[str, Any]:
    """The runtime environment of one run of a job whose main wheel is ``artifact``."""
    main = Path(artifact)
    files = main.parent
    if not files.is_dir():
        raise LakeflowError(
            f"the job's artifact {artifact} is gone from this machine; upload it again with "
            "`lakeflow upload-wheel --target ray` and create the job again"
        )
    wheels = [main, *sorted(p for p in files.glob("*.whl") if p != main)]
    packages = [f"{_WORKING_DIR_VAR}/{files.name}/{p.name}" for p in wheels]
    if (files / PINS_FILE).is_file():
        packages.append(f"-r {_WORKING_DIR_VAR}/{files.name}/{PINS_FILE}")
    return {
        "working_dir": str(files.parent),
        "pip": {"packages": packages, "pip_check": False},
        "env_vars": env_vars,
    }
