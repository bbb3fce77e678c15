"""Watching and repairing a fan-out on the local target: wait's summary and exit codes, status,
list-job-runs filters, rerun, trigger-runs, --quiet, and tables that survive odd text."""

from __future__ import annotations

import json

import pytest

import lakeflow_host as lf
from lakeflow_host import render


def _fan_out(lakeflow, task_job, tmp_path, lines: str) -> tuple[str, list[str]]:
    job_id = task_job("--max-workers", "4")
    runs_file = tmp_path / "runs.txt"
    runs_file.write_text(lines)
    return job_id, lakeflow("trigger-runs", job_id, "--runs-from", str(runs_file)).stdout.split()


def test_wait_ends_with_one_summary_line_and_documented_exit_codes(lakeflow, task_job, tmp_path):
    job_id, run_ids = _fan_out(lakeflow, task_job, tmp_path, "ok 1\nfail a\nok 2\nfail b\n")
    waited = lakeflow("wait", *run_ids, "--timeout", "120", check=False)
    assert waited.returncode == 1
    assert waited.stdout == f"4 runs: 2 succeeded, 2 failed (ids: {run_ids[1]}, {run_ids[3]})\n"
    assert "STATE" not in waited.stdout + waited.stderr  # no table
    # Not a terminal: one line per change of the counts, never a redraw.
    assert "\r" not in waited.stderr and "\x1b[" not in waited.stderr
    progress = [line for line in waited.stderr.splitlines() if "finished:" in line]
    assert progress[-1] == "lakeflow: 4/4 finished: 2 succeeded, 2 failed" and len(progress) == len(set(progress))
    ok = lakeflow("wait", run_ids[0], run_ids[2])
    assert ok.returncode == 0 and ok.stdout == "2 runs: 2 succeeded\n"
    sleeper = lakeflow("trigger-run", job_id, "sleep", "30").stdout.strip()
    timed_out = lakeflow("wait", sleeper, "--timeout", "0.5", check=False)
    assert timed_out.returncode == 3 and f"still running: {sleeper}" in timed_out.stderr
    assert lakeflow("wait", check=False).returncode == 2  # usage error
    lakeflow("cancel-run", sleeper)


def test_status_counts_states_and_names_each_failure(lakeflow, task_job, tmp_path):
    job_id, run_ids = _fan_out(lakeflow, task_job, tmp_path, "ok\nfail x\nfail y\n")
    lakeflow("wait", *run_ids, "--timeout", "120", check=False)
    status = json.loads(lakeflow("status", job_id, "--json").stdout)
    assert status["total"] == 3 and status["counts"] == {"SUCCEEDED": 1, "FAILED": 2}
    errors = {f["run_id"]: f["error"] for f in status["failed"]}
    assert errors == {
        run_ids[1]: "RuntimeError: task failed on purpose with ['x']",
        run_ids[2]: "RuntimeError: task failed on purpose with ['y']",
    }
    assert status["oldest_start"] <= status["newest_start"]
    assert list(status["artifacts"].values()) == [sorted(run_ids, key=int, reverse=True)]
    text = lakeflow("status", job_id).stdout
    assert f"job {job_id} (test-job) on local: 3 runs: 1 succeeded, 2 failed" in text
    assert "RuntimeError: task failed on purpose with ['y']" in text


def test_rerun_failed_starts_the_failed_argument_lists_again(lakeflow, task_job, tmp_path):
    job_id, run_ids = _fan_out(lakeflow, task_job, tmp_path, "ok\nfail x\n")
    lakeflow("wait", *run_ids, "--timeout", "120", check=False)
    again = lakeflow("rerun", "--failed", job_id, "--wait", check=False)
    assert again.returncode == 1 and "1 run: 1 failed" in again.stderr
    (new_id,) = again.stdout.split()
    new = lf.get_run(new_id, target="local")
    assert new.job_id == job_id and new.args == ("fail", "x") and new_id not in run_ids
    by_id = lakeflow("rerun", run_ids[0], run_ids[1]).stdout.split()
    assert [lf.get_run(r, target="local").args for r in by_id] == [("ok",), ("fail", "x")]
    lf.wait(by_id, target="local", timeout=120)
    # Only each argument list's newest run counts: "ok" never failed, "fail x" did again.
    assert [r.args for r in lf.rerun(failed_of=job_id, target="local")[0]] == [("fail", "x")]
    with pytest.raises(lf.LakeflowError, match="either run ids or failed_of"):
        lf.rerun(target="local")
    assert lakeflow("rerun", check=False).returncode == 2


def test_list_job_runs_filters_and_shows_the_job_across_jobs(lakeflow, task_job, tmp_path):
    job_id, run_ids = _fan_out(lakeflow, task_job, tmp_path, "ok\nfail x\nok 2\n")
    other = task_job()
    other_run = lakeflow("trigger-run", other, "line\nbreak", "日本語", "\x1b[2J").stdout.strip()
    lakeflow("wait", *run_ids, other_run, "--timeout", "120", check=False)
    failed = json.loads(lakeflow("list-job-runs", job_id, "--state", "failed", "--json").stdout)
    assert [r["run_id"] for r in failed] == [run_ids[1]]
    newest = json.loads(lakeflow("list-job-runs", job_id, "--limit", "2", "--json").stdout)
    assert [r["run_id"] for r in newest] == [run_ids[2], run_ids[1]]
    table = lakeflow("list-job-runs").stdout.splitlines()
    assert table[0].split()[:2] == ["JOB", "RUN"] and len(table) == 5
    row = next(line for line in table if line.split()[1] == other_run)
    assert row.split()[0] == other and "line\\nbreak" in row and "\\x1b[2J" in row and "\x1b" not in row
    # Columns line up whatever the width of the characters before them.
    assert len({render.width(line[: line.index("DETAIL")]) for line in table[:1]}) == 1
    bad = lakeflow("list-job-runs", "--state", "DONE", check=False)
    assert bad.returncode == 2 and "DONE" in bad.stderr


def test_tables_align_wide_text_and_escape_control_characters():
    rows = [["日本語", "x"], ["ab", "y"], ["😀", "z"], ["tab\there", "w"]]
    lines = render.table(["NAME", "V"], rows).splitlines()
    assert [render.width(line[:-1]) for line in lines[1:]] == [render.width(lines[1][:-1])] * 4
    assert lines[4].startswith("tab\\there")


def test_get_job_and_quiet(lakeflow, task_job):
    job_id = task_job()
    other = lakeflow("create-job", "other-name", "lakeflow-testtask", lf.get_job(job_id, target="local").artifact)
    named = json.loads(lakeflow("list-jobs", "--name", "test-job", "--json").stdout)
    assert [j["job_id"] for j in named] == [job_id] and other.stdout.strip() != job_id
    shown = lakeflow("get-job", job_id)
    assert shown.stdout.splitlines()[1].split()[:2] == [job_id, "test-job"] and "target local" in shown.stderr
    quiet = lakeflow("--quiet", "get-job", job_id, "--json")
    assert quiet.stderr == "" and json.loads(quiet.stdout)["job_id"] == job_id
    assert lakeflow("get-job", job_id, "-q").stderr == ""
    missing = lakeflow("-q", "get-job", "999", check=False)
    assert missing.returncode == 1 and "unknown job id 999" in missing.stderr  # errors still print


def test_on_a_terminal_wait_redraws_one_live_line_per_job(home, lakeflow, task_job):
    import os
    import pty
    import subprocess
    import sys

    first, second = task_job(), task_job()
    runs = [lakeflow("trigger-run", job, "sleep", "1").stdout.strip() for job in (first, first, second)]
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lakeflow_host", "wait", *runs, "--timeout", "120"],
        stdout=subprocess.PIPE,
        stderr=follower,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(leader)
    text = screen.decode()
    assert proc.returncode == 0 and out == "3 runs: 3 succeeded\n"
    assert f"job {first}: [" in text and f"job {second}: [" in text and "elapsed" in text
    assert "\x1b[2A" in text  # the two lines are redrawn in place, not appended
    assert f"job {first}: [####################] 2/2 finished: 2 succeeded" in text


class _Terminal:
    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def test_slow_work_shows_a_line_on_a_terminal_and_erases_it(monkeypatch):
    from support import wait_until

    from lakeflow_host.cli_watch import working

    monkeypatch.delenv("LAKEFLOW_QUIET", raising=False)
    terminal = _Terminal(tty=True)
    with working("building proj", delay=0, stream=terminal):
        wait_until(lambda: "building proj" in terminal.text, timeout=10, interval=0.01)
    assert terminal.text.startswith("\r\x1b[Klakeflow: building proj ") and terminal.text.endswith("\r\x1b[K")
    piped = _Terminal(tty=False)
    with working("building proj", delay=0, stream=piped):
        pass
    assert piped.text == ""
    monkeypatch.setenv("LAKEFLOW_QUIET", "1")
    quiet = _Terminal(tty=True)
    with working("building proj", delay=0, stream=quiet):
        pass
    assert quiet.text == ""


def test_shell_completion_offers_local_job_and_run_ids(lakeflow, task_job):
    job_id = task_job()
    run_id = lakeflow("trigger-run", job_id, "x").stdout.strip()

    def complete(words: str) -> list[str]:
        env = {"_LAKEFLOW_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
        return lakeflow(env=env).stdout.split()

    assert complete("lakeflow re") == ["plain,rerun"]
    assert f"plain,{job_id}" in complete("lakeflow status ")
    assert f"plain,{run_id}" in complete("lakeflow get-run-logs ")
    assert complete("lakeflow get-run 99") == []
    lakeflow("wait", run_id)
