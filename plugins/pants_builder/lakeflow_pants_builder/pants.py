"""Finding the user's Pants and running it: progress to stderr, failures as one line.

The builder never brings a Pants of its own: a Pants monorepo pins its Pants version in
pants.toml, and only the user's launcher (``pants`` / ``./pants``) honours that pin.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from lakeflow_host import LakeflowError

PANTS_ENV = "LAKEFLOW_PANTS"
INSTALL_HINT = (
    "install Pants so that `pants` is on PATH (https://www.pantsbuild.org/docs/installation), "
    f"add a ./pants script to the repo, or set {PANTS_ENV}=/path/to/pants"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Pants' log lines start with a clock: "12:00:00.00 [ERROR] ...".
_LOG_PREFIX = re.compile(r"^\d\d:\d\d:\d\d(\.\d+)? \[(?P<level>[A-Z]+)\] ")
_WROTE = re.compile(r"\[INFO\] Wrote (?P<path>.+?)\s*$")
_NOISE = re.compile(r"^\d+ Exceptions? encountered:$")
_IN_TRACE = "\0engine traceback"
_TAIL_LINES = 12
_TAIL_CHARS = 1500


def find_buildroot(project_dir: Path) -> Path:
    """The Pants build root holding ``project_dir``: the nearest directory with a pants.toml."""
    for directory in (project_dir, *project_dir.parents):
        if (directory / "pants.toml").is_file():
            return directory
    raise LakeflowError(
        f"{project_dir} is not inside a Pants repo (no pants.toml in it or above); pass the repo's folder, "
        "or use --builder uv for a pyproject.toml project"
    )


def find_pants(buildroot: Path) -> str:
    """The user's Pants: ``$LAKEFLOW_PANTS``, else the repo's ``./pants`` script, else ``pants`` on PATH.

    The repo's own script comes before PATH because it is how a repo pins its launcher.
    """
    explicit = os.environ.get(PANTS_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise LakeflowError(f"{PANTS_ENV}={explicit} is not an executable file; point it at your `pants` command")
        return str(path)
    script = buildroot / "pants"
    if script.is_file() and os.access(script, os.X_OK):
        return str(script)
    found = shutil.which("pants")
    if found:
        return found
    raise LakeflowError(f"Pants was not found; {INSTALL_HINT}")


def clean(line: str) -> str:
    return _ANSI.sub("", line).rstrip()


def error_tail(lines: list[str]) -> str:
    """The part of Pants' stderr a user needs, as one line: from the last ``[ERROR]`` on."""
    cleaned = [clean(line) for line in lines]
    start = 0
    for index, line in enumerate(cleaned):
        match = _LOG_PREFIX.match(line)
        if match and match["level"] == "ERROR":
            start = index
    kept = []
    for line in cleaned[start:]:
        text = _LOG_PREFIX.sub("", line).strip()
        # The engine's rule stack ("in `package` goal") says where in Pants, not what to fix.
        if not text or _NOISE.match(text) or (line.startswith("  in ") and kept and kept[-1] is _IN_TRACE):
            continue
        if text == "Engine traceback:":
            kept.append(_IN_TRACE)
            continue
        kept.append(text)
    kept = [line for line in kept if line is not _IN_TRACE][-_TAIL_LINES:] or ["no error output"]
    text = " | ".join(kept)
    return text if len(text) <= _TAIL_CHARS else "..." + text[-_TAIL_CHARS:]


def wrote_paths(lines: list[str], buildroot: Path) -> list[Path]:
    """The files ``pants package`` reports as written (``[INFO] Wrote dist/x.whl``), absolute."""
    paths = []
    for line in lines:
        match = _WROTE.search(clean(line))
        if match:
            paths.append((buildroot / match["path"]).resolve())
    return paths


def run(pants: str, buildroot: Path, args: list[str], what: str) -> tuple[str, list[str]]:
    """Run Pants in ``buildroot``; returns its stdout and its stderr lines.

    Pants' stderr (its progress and warnings) is relayed to ours as it arrives, and so is any
    stdout of goals other than the ones we parse: lakeflow's stdout carries only its result.
    A non-zero exit raises a :class:`LakeflowError` with the tail of Pants' error output.
    """
    print(f"lakeflow: running {Path(pants).name} {' '.join(args)} in {buildroot}", file=sys.stderr, flush=True)
    try:
        proc = subprocess.Popen(
            [pants, *args],
            cwd=buildroot,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise LakeflowError(f"cannot run {pants}: {exc.strerror}; {INSTALL_HINT}") from exc
    # Keep every line: the "Wrote" lines may be anywhere. Pants' stderr is small (log lines only).
    err_lines: collections.deque[str] = collections.deque()

    def relay() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err_lines.append(line)
            sys.stderr.write(line)
            sys.stderr.flush()

    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    try:
        assert proc.stdout is not None
        out = proc.stdout.read()
        returncode = proc.wait()
    except BaseException:  # Ctrl-C: do not leave Pants building behind us
        proc.kill()
        proc.wait()
        raise
    finally:
        reader.join(timeout=10)
    lines = list(err_lines)
    if returncode != 0:
        if out.strip():
            lines.extend(out.splitlines())
        raise LakeflowError(
            f"{what} failed (pants exit code {returncode}): {error_tail(lines)}; "
            "fix what Pants reports (its full output is above) and run again"
        )
    return out, lines
