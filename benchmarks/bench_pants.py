"""How much time `lakeflow build-wheel --builder pants` adds to Pants, and how it compares to uv.

Cases, each timed --repeat times on warm Pants caches (wall clock, median and best):

- ``pants package`` invoked directly on the same targets lakeflow packages;
- ``lakeflow build-wheel --builder pants`` (targets already known: one Pants run);
- the same after a BUILD file changed (lakeflow asks Pants again: two Pants runs);
- both again with pantsd, Pants' daemon, which most Pants users run;
- ``lakeflow build-wheel --builder uv`` on an equivalent pyproject.toml project (a real build
  with ``-o rebuild=true``, and the unchanged case it skips).

Goal: lakeflow with known targets ≤ 1.1 × direct Pants. Needs a Pants: ``$LAKEFLOW_PANTS`` or the
one ``.ci/install-pants.sh`` installs. Usage: ``python benchmarks/bench_pants.py [--repeat 3]``.
Prints a Markdown table on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "pants_repo"
TARGETS = ["src/my_package:dist", "src/greeting:dist"]


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed


Row = tuple[str, float, float, str | None]  # label, median, best, the direct-Pants row it compares to


def measure(
    cases: list[tuple[str, Callable[[], float], Callable[[], None] | None]], repeat: int, base: str | None
) -> list[Row]:
    """Time the cases in turns (A B C A B C ...), so that a load change on this shared machine
    hits every case alike rather than the one that happened to run then."""
    times: dict[str, list[float]] = {label: [] for label, _, _ in cases}
    for i in range(repeat):
        for label, action, before in cases:
            if before:
                before()
            times[label].append(action())
            print(f"  {label} #{i + 1}: {times[label][-1]:.2f}s", file=sys.stderr, flush=True)
    return [(label, statistics.median(t), min(t), base) for label, t in times.items()]


def uv_project(root: Path) -> Path:
    """The fixture's two packages as pyproject.toml projects: my-package -> greeting (path) + six."""
    greeting, app = root / "greeting", root / "my-package"
    (greeting / "src").mkdir(parents=True)
    shutil.copytree(FIXTURE / "src" / "greeting", greeting / "src" / "greeting", ignore=shutil.ignore_patterns("BUILD"))
    (greeting / "pyproject.toml").write_text(
        '[project]\nname = "greeting"\nversion = "0.2.0"\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
    )
    (app / "src").mkdir(parents=True)
    shutil.copytree(FIXTURE / "src" / "my_package", app / "src" / "my_package", ignore=shutil.ignore_patterns("BUILD"))
    (app / "pyproject.toml").write_text(
        '[project]\nname = "my-package"\nversion = "0.1.0"\ndependencies = ["six==1.16.0", "greeting"]\n'
        '[project.scripts]\nlakeflow-task = "my_package.main:main"\n'
        '[tool.uv.sources]\ngreeting = { path = "../greeting" }\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
    )
    return app


def stop_pantsd(repo: Path) -> None:
    """Stop the daemon this benchmark started in its own repo copy (by its pid file)."""
    for pid_file in repo.glob(".pids/*/pantsd/pid"):
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (ValueError, ProcessLookupError):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-pantsd", action="store_true", help="skip the pantsd rows")
    args = parser.parse_args()
    pants = os.environ.get("LAKEFLOW_PANTS") or str(REPO / ".ci" / ".pants" / "bin" / "pants")
    if not os.access(pants, os.X_OK):
        sys.exit(f"no Pants at {pants}: run `bash .ci/install-pants.sh` or set LAKEFLOW_PANTS")
    lakeflow = [sys.executable, "-m", "lakeflow_host"]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-pants-") as tmp:
        repo = Path(tmp) / "pants_repo"
        shutil.copytree(FIXTURE, repo)
        env = {**os.environ, "LAKEFLOW_PANTS": pants, "PANTS_PANTSD": "false"}
        build = repo / "src" / "my_package" / "BUILD"

        def touch_build() -> None:
            build.write_text(build.read_text() + "\n")  # a new hash: lakeflow asks Pants again

        def direct() -> float:
            return run([pants, "package", *TARGETS], repo, env)

        def via_lakeflow() -> float:
            return run([*lakeflow, "build-wheel", str(repo), "--builder", "pants"], repo, env)

        print("warming Pants' caches (the first run in a new place is cold)...", file=sys.stderr)
        via_lakeflow()
        for pantsd in (False, True) if not args.no_pantsd else (False,):
            env["PANTS_PANTSD"] = "true" if pantsd else "false"
            tag = " (pantsd)" if pantsd else ""
            if pantsd:
                direct()  # start the daemon outside the timings
            try:
                rows += measure(
                    [
                        (f"pants package (direct){tag}", direct, None),
                        (f"lakeflow build-wheel --builder pants{tag}", via_lakeflow, None),
                        (f"lakeflow, after a BUILD edit (peek + package){tag}", via_lakeflow, touch_build),
                    ],
                    args.repeat,
                    f"pants package (direct){tag}",
                )
            finally:
                if pantsd:
                    stop_pantsd(repo)
        app = uv_project(Path(tmp) / "uv")
        uv_env = {k: v for k, v in env.items() if k != "PANTS_PANTSD"}
        run([*lakeflow, "build-wheel", str(app)], app, uv_env)
        rows += measure(
            [
                (
                    "lakeflow build-wheel --builder uv -o rebuild=true",
                    lambda: run([*lakeflow, "build-wheel", str(app), "-o", "rebuild=true"], app, uv_env),
                    None,
                ),
                (
                    "lakeflow build-wheel --builder uv (unchanged, skipped)",
                    lambda: run([*lakeflow, "build-wheel", str(app)], app, uv_env),
                    None,
                ),
                ("lakeflow --version (CLI start-up)", lambda: run([*lakeflow, "--version"], app, uv_env), None),
            ],
            args.repeat,
            None,
        )

    medians = {label: median for label, median, _, _ in rows}
    print(f"| case (median of {args.repeat}) | median s | best s | × direct pants |")
    print("|---|---:|---:|---:|")
    for label, median, best, base in rows:
        ratio = f"{median / medians[base]:.2f}" if base else ""
        print(f"| {label} | {median:.2f} | {best:.2f} | {ratio} |")


if __name__ == "__main__":
    main()
