"""Jobs outlive the app and survive kills: a restarted app reattaches, a killed job reads as failed with
its checkpoint, resume continues the loss curve, and abort stops within one training step.

Each test starts real training subprocesses on the tiny model, so they are marked slow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from studio.events import loss_points, read_events
from studio.jobs import JobManager
from studio.runs import latest_checkpoint
from studio.ui import train_runs
from tests.conftest import job_config, logged_steps, wait_for

PROJECT = Path(__file__).resolve().parent.parent
# Starts a job the way the app does, then exits: the job must go on without it.
OLD_APP = """
import json, sys
from studio.config import from_dict
from studio.jobs import JobManager
print(JobManager().start(from_dict(json.loads(sys.argv[1]))))
"""


def endless(model_dir, dataset, run_dir):
    """A run far longer than any test, stopped by abort or kill; checkpoints every 3 steps."""
    return job_config(model_dir, dataset, run_dir, max_steps=100_000, save_steps=3, eval_steps=0)


def steps_after(run_dir: Path, marker: str) -> list[int]:
    """The steps logged after the last `marker` event ("resumed", "started")."""
    events = read_events(run_dir)
    start = max((index for index, event in enumerate(events) if event.get("event") == marker), default=None)
    return [] if start is None else [event["step"] for event in events[start:] if "loss" in event]


def abort_within_a_step(manager: JobManager, run_dir: Path) -> int:
    """Abort and return the step it stopped at, checking it is at most one step past the last one seen."""
    seen = logged_steps(run_dir)[-1]
    assert manager.abort(run_dir, timeout=180) == "aborted", (run_dir / "train.log").read_text()[-2000:]
    stopped = json.loads((run_dir / "summary.json").read_text())["steps"]
    # The step running when abort was asked finishes; a log line still on its way may make it one more.
    assert seen <= stopped <= seen + 2, (seen, stopped)
    assert latest_checkpoint(run_dir).name == f"checkpoint-{stopped}"
    return stopped


@pytest.mark.slow
def test_a_restarted_app_reattaches_to_the_running_job(tiny_model_dir, tiny_sft_file, workspace):
    run_dir = workspace / "runs" / "reattach"
    config = endless(tiny_model_dir, tiny_sft_file, run_dir)
    environment = {**os.environ, "PYTHONPATH": str(PROJECT), "STUDIO_WORKSPACE": str(workspace)}
    old_app = subprocess.run([sys.executable, "-c", OLD_APP, json.dumps(config.to_dict())], env=environment,
                             cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert Path(old_app.stdout.strip()) == run_dir.resolve(), old_app.stderr
    wait_for(lambda: len(logged_steps(run_dir)) >= 3, timeout=300)

    manager = JobManager()  # the app after its restart: it started nothing itself
    assert manager.status(run_dir) == "running"
    assert manager.running().name == "reattach"
    with pytest.raises(ValueError, match="already running"):
        manager.start(job_config(tiny_model_dir, tiny_sft_file, workspace / "runs" / "second"))
    assert not (workspace / "runs" / "second").exists()
    assert train_runs.followed_run(manager) == str(run_dir)  # a page opened now follows it
    assert "running" in str(train_runs.run_view(manager, str(run_dir))[0])

    abort_within_a_step(manager, run_dir)
    assert manager.running() is None


@pytest.mark.slow
def test_a_killed_job_is_failed_with_its_checkpoint_and_resume_continues_the_curve(
        tiny_model_dir, tiny_sft_file, workspace):
    manager = JobManager()
    run_dir = manager.start(endless(tiny_model_dir, tiny_sft_file, workspace / "runs" / "killed"))
    wait_for(lambda: latest_checkpoint(run_dir) is not None and len(logged_steps(run_dir)) >= 5, timeout=300)
    os.killpg(json.loads((run_dir / "job.json").read_text())["pid"], signal.SIGKILL)
    wait_for(lambda: manager.status(run_dir) != "running", timeout=30)
    killed_at = logged_steps(run_dir)[-1]

    restarted = JobManager()
    assert restarted.status(run_dir) == "failed"
    checkpoint = latest_checkpoint(run_dir)
    assert checkpoint is not None and int(checkpoint.name.split("-")[1]) <= killed_at
    error = json.loads((run_dir / "summary.json").read_text())["error"]
    assert "killed or crashed" in error and checkpoint.name in error
    assert checkpoint.name in str(train_runs.run_view(restarted, str(run_dir))[0])  # shown on the Train tab

    restarted.resume(run_dir)
    wait_for(lambda: len(steps_after(run_dir, "resumed")) >= 3, timeout=300)
    abort_within_a_step(restarted, run_dir)
    resumed = steps_after(run_dir, "resumed")
    resumed_from = int(checkpoint.name.split("-")[1])
    assert resumed[0] == resumed_from + 1, (resumed_from, resumed[:5])  # no restart at step 1
    assert resumed == list(range(resumed[0], resumed[-1] + 1))
    curve = [point["step"] for point in loss_points(read_events(run_dir)) if point["series"] == "loss"]
    assert curve == list(range(1, resumed[-1] + 1))  # one unbroken curve, the resumed steps replacing the lost ones
