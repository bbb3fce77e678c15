"""get-run-logs beyond one call: --follow until the run ends, --job ... --to DIR, and --tail."""

from __future__ import annotations

import json
from pathlib import Path


def test_follow_streams_until_the_run_ends_with_the_exit_notice_on_stderr(lakeflow, task_job):
    job_id = task_job()
    run_id = lakeflow("trigger-run", job_id, "sleep", "1.5").stdout.strip()
    followed = lakeflow("get-run-logs", run_id, "--follow")
    assert followed.stdout.splitlines()[0] == 'ARGV=["sleep", "1.5"]' and followed.stdout.endswith("DONE\n")
    assert "lakeflow" not in followed.stdout
    assert f"lakeflow: run {run_id} ended SUCCEEDED" in followed.stderr
    failing = lakeflow("trigger-run", job_id, "fail", "now").stdout.strip()
    failed = lakeflow("get-run-logs", failing, "-f", check=False)
    assert failed.returncode == 1 and "RuntimeError: task failed on purpose" in failed.stdout
    assert f"run {failing} ended FAILED" in failed.stderr


def test_logs_of_a_job_go_to_one_file_per_run(lakeflow, task_job, tmp_path: Path):
    job_id = task_job("--max-workers", "3")
    runs_file = tmp_path / "runs.txt"
    runs_file.write_text("ok\nfail x\nok 2\n")
    run_ids = lakeflow("trigger-runs", job_id, "--runs-from", str(runs_file), "--wait", check=False).stdout.split()
    out = tmp_path / "logs"
    saved = lakeflow("get-run-logs", "--job", job_id, "--to", str(out))
    assert saved.stdout.strip() == str(out.resolve())
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{r}.log" for r in run_ids)
    assert "RuntimeError: task failed on purpose with ['x']" in (out / f"{run_ids[1]}.log").read_text()
    only_failed = tmp_path / "failed"
    listed = json.loads(
        lakeflow("get-run-logs", "--job", job_id, "--state", "FAILED", "--to", str(only_failed), "--json").stdout
    )
    assert listed["run_ids"] == [run_ids[1]] and [p.name for p in only_failed.iterdir()] == [f"{run_ids[1]}.log"]
    assert lakeflow("get-run-logs", "--job", job_id, check=False).returncode == 2


def test_tail_says_truncated_only_when_lines_were_cut(lakeflow, task_job):
    job_id = task_job()
    run_id = lakeflow("trigger-run", job_id, "a").stdout.strip()
    lakeflow("wait", run_id)
    whole = lakeflow("get-run-logs", run_id, "--tail", "100")
    assert "truncated" not in whole.stderr and whole.stdout.endswith("DONE\n")
    cut = lakeflow("get-run-logs", run_id, "--tail", "1")
    assert cut.stdout == "DONE\n" and "truncated" in cut.stderr
