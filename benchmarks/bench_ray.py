"""The ray target's fan-out against Ray's own Job Submission SDK, on a local Ray head.

    python benchmarks/bench_ray.py [--runs 50] [--repeat 1]

Needs the extra (``pip install -e '.[ray]'``). Starts a single-node Ray head on 127.0.0.1
(2 CPUs, its own temp dir, stopped at the end), then measures, interleaved ``--repeat`` times:

- lakeflow: ``lakeflow launch --target ray --runs-from FILE --wait`` of ``--runs`` trivial runs
  (``--max-workers`` = runs, so lakeflow's queue never holds one back), from the command's start
  to its exit: an unchanged build (reused), an upload that copies nothing, a job, the triggers
  and the wait;
- baseline: ``--runs`` ``submit_job`` calls of the same entry point and runtime environment from
  one ``JobSubmissionClient``, then polling ``get_job_status`` every 0.5 s (lakeflow's poll
  interval for ray) until every job ended.

Both reserve 1 CPU per run, so Ray runs two at a time either way. One warm-up run first builds
Ray's pip environment of the artifact set, which both then reuse. Goal: at most 1.2x.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROJECT = REPO / "tests" / "fixtures" / "tasks"
TIMEOUT = 1200


def lakeflow_command() -> list[str]:
    script = Path(sys.executable).parent / "lakeflow"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "lakeflow_host"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_ray(temp: Path) -> tuple[subprocess.Popen, str]:
    from ray.job_submission import JobSubmissionClient

    port = free_port()
    address = f"http://127.0.0.1:{port}"
    ray = Path(sys.executable).parent / "ray"
    proc = subprocess.Popen(
        [str(ray), "start", "--head", "--block", "--port", "0", "--node-ip-address", "127.0.0.1",
         "--dashboard-host", "127.0.0.1", "--dashboard-port", str(port), "--include-dashboard", "true",
         "--num-cpus", "2", "--temp-dir", str(temp), "--disable-usage-stats"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        # Loopback only: without this Ray moves GCS and raylets to the machine's own address.
        env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                JobSubmissionClient(address).list_jobs()
                return proc, address
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("Ray did not start") from None
                time.sleep(0.5)
    except BaseException:
        stop_ray(proc)
        raise


def stop_ray(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(45)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def run_lakeflow(env: dict[str, str], project: Path, runs_file: Path, runs: int) -> float:
    command = [*lakeflow_command(), "launch", "--target", "ray", str(project), "--runs-from", str(runs_file)]
    command += ["--max-workers", str(runs), "--wait", "--timeout", str(TIMEOUT)]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, timeout=TIMEOUT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def run_baseline(address: str, runtime_env: dict, lines: list[list[str]]) -> float:
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
    start = time.perf_counter()
    ids = [
        client.submit_job(
            entrypoint=shlex.join(["lakeflow-task", *args]), runtime_env=runtime_env, entrypoint_num_cpus=1
        )
        for args in lines
    ]
    pending = set(ids)
    while pending:
        time.sleep(0.5)
        for job in list(pending):
            status = client.get_job_status(job)
            if status.is_terminal():
                if str(status) != "SUCCEEDED":
                    raise SystemExit(f"baseline job {job} ended {status}")
                pending.discard(job)
    return time.perf_counter() - start


def breakdown(address: str) -> dict[str, tuple[float, float]]:
    """From Ray's own records, per side: how long the submissions took, and first to last end."""
    from ray.job_submission import JobSubmissionClient

    sides: dict[str, list] = {"lakeflow": [], "baseline": []}
    for job in JobSubmissionClient(address).list_jobs():
        if job.submission_id and job.start_time and job.end_time:
            if job.submission_id.startswith("lakeflow-"):
                if (job.metadata or {}).get("lakeflow_job_id") != "1":  # not the warm-up
                    sides["lakeflow"].append(job)
            else:
                sides["baseline"].append(job)
    result = {}
    for name, jobs in sides.items():
        if jobs:
            first = min(j.start_time for j in jobs)
            result[name] = (
                (max(j.start_time for j in jobs) - first) / 1000,
                (max(j.end_time for j in jobs) - first) / 1000,
            )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=1)
    options = parser.parse_args()
    logging.disable(logging.INFO)  # the SDK logs every package check
    work = Path(tempfile.mkdtemp(prefix="lfbench"))
    temp = Path(tempfile.mkdtemp(prefix="lfray", dir="/tmp"))
    proc, address = start_ray(temp)
    try:
        env = {**os.environ, "LAKEFLOW_HOME": str(work / "home"), "RAY_ADDRESS": address}
        env.pop("LAKEFLOW_TARGET", None)
        project = work / "tasks"
        shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("dist", "__pycache__"))
        lines = [[f"run-{i}"] for i in range(options.runs)]
        runs_file = work / "runs.txt"
        runs_file.write_text("".join(shlex.join(args) + "\n" for args in lines))
        # Warm-up: builds the wheel once and Ray's pip environment of this artifact set.
        warm = work / "warm.txt"
        warm.write_text("warm-up\n")
        run_lakeflow(env, project, warm, 1)
        jobs = json.loads(
            subprocess.run(
                [*lakeflow_command(), "list-jobs", "--target", "ray", "--json"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout  # fmt: skip
        )
        sys.path.insert(0, str(REPO / "plugins" / "ray_target"))
        os.environ["LAKEFLOW_HOME"] = env["LAKEFLOW_HOME"]
        from lakeflow_ray_target import artifacts

        runtime_env = artifacts.runtime_env(jobs[0]["artifact"], {})
        measured, baseline = [], []
        for index in range(options.repeat):
            # Alternating which goes first: a cluster that has run more jobs is a little slower.
            if index % 2:
                measured.append(run_lakeflow(env, project, runs_file, options.runs))
            baseline.append(run_baseline(address, runtime_env, lines))
            if not index % 2:
                measured.append(run_lakeflow(env, project, runs_file, options.runs))
        spans = breakdown(address) if options.repeat == 1 else {}
    finally:
        stop_ray(proc)
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    ours, theirs = statistics.median(measured), statistics.median(baseline)
    print("| benchmark | lakeflow | baseline | ratio | goal |")
    print("|---|---:|---:|---:|---|")
    print(
        f"| {options.runs} trivial runs, `launch --runs-from --wait` vs {options.runs} `submit_job` "
        f"from one JobSubmissionClient + polling | {ours:.2f} s | {theirs:.2f} s | {ours / theirs:.2f}x | ≤ 1.2x |"
    )
    for name, (submitting, running) in spans.items():
        print(f"({name}: submissions spread over {submitting:.2f} s; first submission to last end {running:.2f} s)")
    print(
        f"(samples: lakeflow {', '.join(f'{m:.2f}' for m in measured)}; baseline {', '.join(f'{b:.2f}' for b in baseline)})"
    )


if __name__ == "__main__":
    main()
