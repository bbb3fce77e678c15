"""How fast lakeflow is on the local target, against baselines measured in the same run.

    python benchmarks/bench_local.py [--repeat N] [--runs 50]

Prints one table, with the goal each ratio should meet:

1. start-up, in the demo project's folder: ``lakeflow --help`` and ``lakeflow list-job-runs`` against
   ``python -c "import click"``
   (median of ``--repeat`` interleaved runs each, lakeflow's bytecode written first as a regular
   install has it; goal at most 1.8x);
2. fan-out: ``--runs`` trivial runs of one job with ``--max-workers 4``, and ``--big-runs`` at
   ``--max-workers 8``, from the first trigger to the last run's recorded end
   (``lakeflow_host.trigger_runs``, then polling ``list_job_runs``), against the same entry-point
   processes started from the job's ready venv with ``xargs -P 4`` / ``-P 8`` (goal at most 1.5x);
3. relaunch: a second ``lakeflow launch`` of an unchanged project against the first (goal at
   most 0.3x, with zero builds and zero bytes copied); the demo is locked (``uv.lock``), so this
   includes the pins;
4. pins: what ``uv export --locked`` of the pins adds to a changed build of
   ``tests/fixtures/locked/app`` (six and a path dependency's iniconfig), against a budget of
   0.2 s (goal at most 1x);
5. idle: the CPU a run's supervisor uses while its task sleeps (goal under 0.1% of a core).

Everything happens in a temporary ``LAKEFLOW_HOME`` and on a temporary copy of
``examples/lakeflow_demo``; nothing outside them is touched. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bytecode import compile_bytecode

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "lakeflow_demo"
TIMEOUT = 300


@dataclass
class Row:
    name: str
    measured: float
    baseline: float
    goal: float
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.measured / self.baseline

    @property
    def ok(self) -> bool:
        return self.ratio <= self.goal


def lakeflow_command() -> list[str]:
    script = Path(sys.executable).parent / "lakeflow"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "lakeflow_host"]


def timed(
    command: Sequence[str], env: dict[str, str], input: bytes | None = None, **kwargs: object
) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one command, start to exit; it must succeed. CPU time is
    reported beside wall time because it hardly moves when others load the machine.

    Waits with a blocking ``waitpid``: ``subprocess.run(timeout=...)`` polls with sleeps of up
    to 50 ms, which would add a random part of that to every sample of a 0.1 s command. A
    timer kills a command that hangs instead."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **kwargs,  # type: ignore[call-overload]
    )
    watchdog = threading.Timer(TIMEOUT, proc.kill)
    watchdog.start()
    try:
        if input is not None:
            proc.stdin.write(input)  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]
        code = proc.wait()
    finally:
        watchdog.cancel()
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        raise SystemExit(f"bench_local: {' '.join(command)} exited with {code}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def copy_demo(parent: Path) -> Path:
    project = parent / "lakeflow_demo"
    shutil.copytree(DEMO, project, ignore=shutil.ignore_patterns("dist", "__pycache__", "*.egg-info"))
    return project


def heavy_imports(env: dict[str, str], args: Sequence[str]) -> list[str]:
    """Which of the slow optional libraries a command imports (from ``python -X importtime``)."""
    code = f"import sys; sys.argv = ['lakeflow', *{list(args)!r}]; from lakeflow_host.cli import main; main()"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    modules = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    return sorted(modules & {"databricks", "mcp", "pydantic", "httpx", "requests", "anyio", "starlette"})


# -- 1. start-up ------------------------------------------------------------------------------------


def bench_startup(project: Path, env: dict[str, str], repeat: int) -> list[Row]:
    """Run in the demo project's folder, where a user runs lakeflow (its pyproject.toml is read)."""
    lakeflow = lakeflow_command()
    commands = {
        "baseline": [sys.executable, "-c", "import click"],
        "--help": [*lakeflow, "--help"],
        "list-job-runs": [*lakeflow, "list-job-runs", "--target", "local"],
    }
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(repeat):  # interleaved, so that all three see the same machine load
        for name, command in commands.items():
            samples[name].append(timed(command, env, cwd=project))

    def median(name: str, index: int) -> float:
        return statistics.median(sample[index] for sample in samples[name])

    rows = []
    for name, args in (("--help", ["--help"]), ("list-job-runs", ["list-job-runs", "--target", "local"])):
        heavy = heavy_imports(env, args)
        cpu = median(name, 1) / median("baseline", 1)
        note = f"CPU {cpu:.2f}x; " + (f"imports {', '.join(heavy)}" if heavy else "no databricks-sdk/mcp import")
        rows.append(Row(f"lakeflow {name}", median(name, 0), median("baseline", 0), 1.8, note))
    return rows


# -- 2. fan-out ---------------------------------------------------------------------------------------


def bench_fanout(project: Path, home: Path, env: dict[str, str], runs: int, workers: int, repeat: int) -> Row:
    import lakeflow_host as lf  # after LAKEFLOW_HOME is set in os.environ

    artifact = lf.build_wheel(project)
    remote = lf.upload_wheel(artifact, target="local")
    job = lf.create_job(f"bench-fanout-{workers}", artifact.package, remote.path, max_workers=workers, target="local")
    # The local target's venv for this artifact, made by create_job: the "ready venv" of the baseline.
    entry_point = home / "envs" / Path(job.artifact).parent.name / "bin" / "lakeflow-task"
    if not entry_point.is_file():
        raise SystemExit(f"bench_local: no venv with lakeflow-task at {entry_point}; did the local target change?")
    arg_lists = [[f"run{i}"] for i in range(runs)]

    def supervisors_gone() -> None:
        """The job's supervisors exit once its queue is empty; wait for that, so that the next
        sample starts on a quiet machine."""
        import sqlite3

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            db = sqlite3.connect(home / "lakeflow.db", timeout=30)
            left = db.execute("SELECT count(*) FROM supervisors WHERE job_id = ?", (int(job.job_id),)).fetchone()[0]
            db.close()
            if not left:
                return
            time.sleep(0.05)
        raise SystemExit("bench_local: the job's supervisors did not exit after its runs")

    def one_fanout() -> float:
        first_trigger = time.time()
        started, failures = lf.trigger_runs(job.job_id, arg_lists, target="local")
        if failures:
            raise SystemExit(f"bench_local: {len(failures)} runs did not start: {failures[0].error}")
        ids = {run.run_id for run in started}
        deadline = time.monotonic() + TIMEOUT
        while True:
            mine = [r for r in lf.list_job_runs(job.job_id, target="local") if r.run_id in ids]
            if all(r.state.is_final for r in mine):
                break
            if time.monotonic() > deadline:
                raise SystemExit("bench_local: the runs did not finish in time")
            time.sleep(0.2)
        bad = [r for r in mine if r.state is not lf.RunState.SUCCEEDED]
        if bad:
            raise SystemExit(f"bench_local: run {bad[0].run_id} {bad[0].state}: {bad[0].message}")
        supervisors_gone()
        # Supervisors record each end as it happens: the polling interval does not count.
        return max(r.end_time or 0.0 for r in mine) - first_trigger

    def one_xargs() -> float:
        lines = "".join(f"{a[0]}\n" for a in arg_lists)
        return timed(["xargs", "-P", str(workers), "-n", "1", str(entry_point)], env, input=lines.encode())[0]

    measured, baseline = [], []
    for _ in range(repeat):  # interleaved, so that both see the same machine load
        baseline.append(one_xargs())
        measured.append(one_fanout())
    return Row(
        f"{runs} runs, --max-workers {workers}",
        statistics.median(measured),
        statistics.median(baseline),
        1.5,
        f"vs xargs -P {workers} lakeflow-task",
    )


def bench_idle(scratch: Path, home: Path, seconds: float) -> Row:
    """CPU of a run's supervisor while its task sleeps, as a share of one core (an idle job
    with nothing queued or running has no process at all)."""
    import sqlite3

    import lakeflow_host as lf

    project = scratch / "tasks"
    shutil.copytree(REPO / "tests" / "fixtures" / "tasks", project, ignore=shutil.ignore_patterns("dist"))
    artifact = lf.build_wheel(project)
    remote = lf.upload_wheel(artifact, target="local")
    job = lf.create_job("bench-idle", artifact.package, remote.path, target="local")
    run = lf.trigger_run(job.job_id, ["sleep", str(seconds + 5)], target="local")
    db = sqlite3.connect(home / "lakeflow.db", timeout=30)
    deadline = time.monotonic() + 60
    while True:
        row = db.execute("SELECT sup_pid, pid FROM runs WHERE id = ?", (int(run.run_id),)).fetchone()
        if row[1]:
            break
        if time.monotonic() > deadline:
            raise SystemExit("bench_local: the idle run did not start")
        time.sleep(0.05)
    db.close()
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu(pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    time.sleep(1)  # past the start of the run
    before, start = cpu(row[0]), time.monotonic()
    time.sleep(seconds)
    used, elapsed = cpu(row[0]) - before, time.monotonic() - start
    lf.cancel_run(run.run_id, target="local")
    share = used / elapsed * 100
    return Row(
        "supervisor of a sleeping run, CPU",
        share,
        100.0,
        0.001,
        f"{used * 1000:.0f} ms CPU in {elapsed:.0f} s = {share:.3f}% of a core (goal < 0.1%)",
    )


# -- 3. relaunch ------------------------------------------------------------------------------------


def bench_relaunch(scratch: Path, env: dict[str, str], repeat: int) -> Row:
    firsts, seconds, builds, copied = [], [], 0, 0
    for i in range(repeat):
        # A fresh project copy and home each time: the first launch really builds and uploads.
        folder = scratch / f"relaunch-{i}"
        folder.mkdir()
        project = copy_demo(folder)
        run_env = {**env, "LAKEFLOW_HOME": str(folder / "home")}
        command = [*lakeflow_command(), "launch", "--json", "--target", "local", str(project), "fi"]

        def launch(command: list[str] = command, run_env: dict[str, str] = run_env) -> tuple[float, dict]:
            start = time.perf_counter()
            proc = subprocess.run(command, env=run_env, capture_output=True, text=True, timeout=TIMEOUT)
            elapsed = time.perf_counter() - start
            if proc.returncode != 0:
                raise SystemExit(f"bench_local: launch failed: {proc.stderr.strip()}")
            return elapsed, json.loads(proc.stdout)

        first, data = launch()
        if not data["artifact"]["built"] or not data["remote"]["bytes_uploaded"]:
            raise SystemExit("bench_local: the first launch did not build and upload; the measure would be wrong")
        second, again = launch()
        firsts.append(first)
        seconds.append(second)
        builds += bool(again["artifact"]["built"])
        copied += again["remote"]["bytes_uploaded"]
    return Row(
        "second launch, unchanged",
        statistics.median(seconds),
        statistics.median(firsts),
        0.3,
        f"second launches: {builds} builds, {copied} bytes copied",
    )


# -- 4. pins ---------------------------------------------------------------------------------------


def bench_pins(repeat: int) -> Row:
    from lakeflow_uv_builder.pins import export
    from lakeflow_uv_builder.project import load_project

    from lakeflow_host import uv_binary

    project = load_project(REPO / "tests" / "fixtures" / "locked" / "app", need_entry_point=True)
    uv = uv_binary()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        pinned = export(uv, project)
        samples.append(time.perf_counter() - start)
    return Row(
        "uv export of the pins", statistics.median(samples), 0.2, 1.0, f"{len(pinned.split())} pins; budget 0.2s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11, help="start-up samples per command (median)")
    parser.add_argument("--runs", type=int, default=50, help="runs per fan-out")
    parser.add_argument("--big-runs", type=int, default=1000, help="runs of the --max-workers 8 fan-out (0: skip)")
    parser.add_argument("--idle-seconds", type=float, default=10, help="how long the idle supervisor is watched")
    parser.add_argument("--fanouts", type=int, default=3, help="fan-outs and relaunches measured (median)")
    options = parser.parse_args()
    compile_bytecode()  # before the fan-outs too: their supervisors import lakeflow

    with tempfile.TemporaryDirectory(prefix="lakeflow-bench-") as tmp:
        scratch = Path(tmp)
        home = scratch / "home"
        os.environ["LAKEFLOW_HOME"] = str(home)
        os.environ.pop("LAKEFLOW_TARGET", None)
        env = dict(os.environ)
        project = copy_demo(scratch)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
        rows = [bench_fanout(project, home, env, options.runs, 4, options.fanouts)]
        if options.big_runs:
            rows.append(bench_fanout(project, home, env, options.big_runs, 8, max(1, options.fanouts - 2)))
        rows += bench_startup(project, env, options.repeat)  # list-job-runs now lists the fan-outs' runs
        rows.append(bench_relaunch(scratch, env, options.fanouts))
        rows.append(bench_pins(options.repeat))
        rows.append(bench_idle(scratch, home, options.idle_seconds))

    fanouts, startup, rest = rows[:-5], rows[-5:-3], rows[-3:]
    order = [*startup, *fanouts, *rest]
    headers = ("benchmark", "lakeflow", "baseline", "ratio", "goal", "", "note")
    table = [
        (
            r.name,
            f"{r.measured:.3f}s",
            f"{r.baseline:.3f}s",
            f"{r.ratio:.2f}x",
            f"<= {r.goal}x",
            "ok" if r.ok else "MISSED",
            r.note,
        )
        for r in order
    ]
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *table, strict=True)]
    for line in (headers, *table):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
