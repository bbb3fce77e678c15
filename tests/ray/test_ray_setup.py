"""The ``ray`` target's behaviour that needs no cluster: install hint, laziness, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_without_ray_the_target_says_how_to_install_it(home, lakeflow, tmp_path):
    # A `ray` that fails to import stands for an environment without the extra.
    (tmp_path / "shadow" / "ray").mkdir(parents=True)
    (tmp_path / "shadow" / "ray" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'ray'\")\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "shadow"), os.environ.get("PYTHONPATH", "")])}
    for command in (["list-job-runs"], ["get-run", "lakeflow-1-00"], ["trigger-run", "1", "x"]):
        proc = lakeflow(command[0], "--target", "ray", *command[1:], env=env, check=False)
        assert proc.returncode == 1
        assert proc.stderr.splitlines()[-1:] == [
            "Error: the ray target needs Ray's Job Submission SDK; install it with pip install 'lakeflow-host[ray]'"
        ]
        assert "Traceback" not in proc.stderr
    # Every other target works as before.
    assert lakeflow("list-job-runs", "--target", "local", env=env).returncode == 0


def test_other_targets_never_import_ray(home):
    for command in (["list-job-runs", "--target", "local"], ["--help"], ["plugins"]):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "lakeflow_host", *command],
            capture_output=True, text=True, timeout=120, check=True, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
        assert not {m for m in imported if m == "ray" or m.startswith("ray.")}, command


def test_no_address_is_a_one_line_error(home, lakeflow, monkeypatch, task_wheel):
    pytest.importorskip("ray.job_submission", reason="Ray is not installed; pip install -e '.[test,ray]'")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    remote = lakeflow("upload-wheel", "--target", "ray", str(task_wheel)).stdout.strip()
    job_id = lakeflow("create-job", "--target", "ray", "j", "lakeflow-testtask", remote).stdout.strip()
    proc = lakeflow("trigger-run", "--target", "ray", job_id, "x", check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1:] == [
        "Error: no Ray cluster address; pass -o address=http://HOST:8265 (the dashboard's address) or set RAY_ADDRESS"
    ]
    assert lakeflow("list-job-runs", "--target", "ray", job_id).stdout.strip().splitlines()[1:] == []


def test_unreachable_cluster_is_a_one_line_error_and_starts_nothing(home, lakeflow, task_wheel):
    pytest.importorskip("ray.job_submission", reason="Ray is not installed; pip install -e '.[test,ray]'")
    remote = lakeflow("upload-wheel", "--target", "ray", str(task_wheel)).stdout.strip()
    job_id = lakeflow("create-job", "--target", "ray", "j", "lakeflow-testtask", remote).stdout.strip()
    proc = lakeflow("trigger-run", "--target", "ray", "--address", "http://127.0.0.1:9", job_id, "x", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("Error: cannot reach the Ray cluster at http://127.0.0.1:9")
    assert lakeflow("list-job-runs", "--target", "ray", job_id, "--json").stdout.strip() == "[]"


def test_an_artifact_not_uploaded_to_ray_is_refused(home, lakeflow, task_wheel: Path):
    pytest.importorskip("ray.job_submission", reason="Ray is not installed; pip install -e '.[test,ray]'")
    proc = lakeflow("create-job", "--target", "ray", "j", "lakeflow-testtask", str(task_wheel), check=False)
    assert proc.returncode == 1
    assert "was not uploaded to the ray target; run `lakeflow upload-wheel --target ray`" in proc.stderr


def test_a_run_that_cannot_be_submitted_is_an_error_and_not_a_run(home, lakeflow, task_wheel):
    pytest.importorskip("ray.job_submission", reason="Ray is not installed; pip install -e '.[test,ray]'")
    import shutil

    remote = lakeflow("upload-wheel", "--target", "ray", str(task_wheel)).stdout.strip()
    job_id = lakeflow("create-job", "--target", "ray", "j", "lakeflow-testtask", remote).stdout.strip()
    shutil.rmtree(Path(remote).parent)
    proc = lakeflow("trigger-run", "--target", "ray", "--address", "http://127.0.0.1:9", job_id, "x", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith(f"Error: the job's artifact {remote} is gone from this machine")
    assert lakeflow("list-job-runs", "--target", "ray", job_id, "--json").stdout.strip() == "[]"
