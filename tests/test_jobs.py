"""Jobs run as subprocesses: finish, abort with a checkpoint, resume, and a killed job reads as failed."""

from __future__ import annotations

import json
import os
import signal

import pytest

from studio.events import loss_points, read_events
from studio.jobs import JobManager
from studio.runs import latest_checkpoint
from tests.conftest import job_config, wait_for, logged_steps


def test_job_runs_to_finished_and_is_listed(tiny_model_dir, tiny_sft_file, workspace):
    manager = JobManager()
    run_dir = manager.start(job_config(tiny_model_dir, tiny_sft_file, workspace / "runs" / "done"))
    assert manager.wait(run_dir, timeout=180) == "finished", (run_dir / "train.log").read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {"status", "train_loss", "eval_loss", "trained_tokens", "wall_seconds", "tokens_per_second"} <= set(summary)
    assert (run_dir / "adapter" / "adapter_config.json").exists()
    assert "step 6/6" in (run_dir / "train.log").read_text()
    runs = manager.list_runs()
    assert [run.name for run in runs] == ["done"] and runs[0].status == "finished"


@pytest.mark.slow  # starts training jobs or servers as processes of their own
def test_second_job_is_refused_while_one_runs(tiny_model_dir, tiny_sft_file, workspace):
    manager = JobManager()
    run_dir = manager.start(job_config(tiny_model_dir, tiny_sft_file, workspace / "runs" / "long", max_steps=3000))
    try:
        with pytest.raises(ValueError, match="already running"):
            manager.start(job_config(tiny_model_dir, tiny_sft_file, workspace / "runs" / "other"))
    finally:
        manager.abort(run_dir)


@pytest.mark.slow  # starts training jobs or servers as processes of their own
def test_abort_keeps_a_checkpoint_and_resume_continues(tiny_model_dir, tiny_sft_file, workspace):
    # Long enough that the abort, asked for once step 3 is logged, lands well before the end (a step of the tiny
    # model takes a few hundredths of a second); the resume trains the rest.
    steps = 150
    manager = JobManager()
    run_dir = manager.start(job_config(tiny_model_dir, tiny_sft_file, workspace / "runs" / "abort",
                                       max_steps=steps, save_steps=1000, eval_steps=1000))
    wait_for(lambda: len(logged_steps(run_dir)) >= 3)
    assert manager.status(run_dir) == "running"
    assert manager.abort(run_dir) == "aborted"
    checkpoint = latest_checkpoint(run_dir)
    assert checkpoint is not None
    stopped_at = int(checkpoint.name.split("-")[1])
    assert 3 <= stopped_at < steps
    manager.resume(run_dir)
    assert manager.wait(run_dir, timeout=300) == "finished", (run_dir / "train.log").read_text()
    logged = logged_steps(run_dir)
    resumed = logged[logged.index(stopped_at) + 1:] if stopped_at in logged else logged
    assert resumed[0] == stopped_at + 1 and logged[-1] == steps
    assert max(point["step"] for point in loss_points(read_events(run_dir))) == steps


@pytest.mark.slow  # starts training jobs or servers as processes of their own
def test_killed_job_reads_as_failed(tiny_model_dir, tiny_sft_file, workspace):
    manager = JobManager()
    run_dir = manager.start(job_config(tiny_model_dir, tiny_sft_file, workspace / "runs" / "killed", max_steps=3000))
    wait_for(lambda: len(logged_steps(run_dir)) >= 1)
    pid = json.loads((run_dir / "job.json").read_text())["pid"]
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: manager.status(run_dir) != "running", timeout=30)
    assert manager.status(run_dir) == "failed"
    assert "killed or crashed" in json.loads((run_dir / "summary.json").read_text())["error"]
    # A new manager (an app restarted) agrees.
    assert JobManager().status(run_dir) == "failed"


@pytest.mark.slow  # starts training jobs or servers as processes of their own
def test_failing_job_reports_its_error(tiny_model_dir, tmp_path, workspace):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "raw text is not instruction data"}\n')
    manager = JobManager()
    run_dir = manager.start(job_config(tiny_model_dir, bad, workspace / "runs" / "bad"))
    assert manager.wait(run_dir, timeout=120) == "failed"
    assert "needs instruction rows" in json.loads((run_dir / "summary.json").read_text())["error"]
