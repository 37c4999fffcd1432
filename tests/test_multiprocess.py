"""Training under `accelerate launch` with two processes on the CPU (gloo): the same losses as one process with the
same global batch, one run folder written once, an abort that stops both processes at the same step, and a resume
that goes on from the checkpoint.

The slow tests start real training processes on the tiny model (about 10-30 s each on 2 cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from studio.config import load_config
from studio.jobs import JobManager, check_processes, launch_command, run_processes
from studio.training import run_training
from studio.workspace import read_jsonl
from tests.conftest import PROJECT, write_jsonl

# fp32 and no warm-up: the first steps' losses compare to float summation order (see below). A validation share
# with a probe at the end: every process must join the last evaluation, or none.
SETTINGS = {"max_steps": 3, "eval_steps": 0, "validation_split": 0.2, "warmup_ratio": 0.0, "precision": "fp32",
            "learning_rate": 0.01, "probe_max_new_tokens": 2}
# Two processes each pack two rows into a sequence where one process packs four, and they sum their shares of the
# loss and the gradients in another order: float32 rounding. Measured: 5e-7 at the first step, 0 at the next two.
# 1e-5 leaves room for that and is a ten-thousandth of what one step of learning moves the loss here (0.2 to 0.4).
# (With the default precision on a CPU with bf16 units the two differ by about 2e-4 after four steps: bf16 rounding.)
LOSS_TOLERANCE = 1e-5


def step_events(run: Path) -> list[dict]:
    return [event for event in read_jsonl(run / "events.jsonl") if "loss" in event]


def rows() -> list[dict]:
    pairs = [("great food and friendly staff", "positive"), ("terrible service and cold soup", "negative"),
             ("the soup was cold", "negative"), ("friendly and fast", "positive")] * 4
    return [{"instruction": "classify the review as positive or negative", "input": text, "output": label}
            for text, label in pairs]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("multiprocess-data") / "reviews.jsonl", rows())


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory, tiny_model_dir, dataset) -> tuple[Path, subprocess.CompletedProcess]:
    """One run trained by `python -m studio train --set num_processes=2`, which starts itself under accelerate."""
    workspace = tmp_path_factory.mktemp("multiprocess-workspace")
    run = workspace / "runs" / "two"
    command = [sys.executable, "-m", "studio", "train", "--preset", "cpu-lora", "--dataset", str(dataset),
               "--output", str(run), "--set", f"base_model={tiny_model_dir}", "--set", "batch_size=2",
               "--set", "num_processes=2", *(part for key, value in SETTINGS.items() for part in ("--set", f"{key}={value}"))]
    environment = {**os.environ, "STUDIO_WORKSPACE": str(workspace), "PYTHONWARNINGS": "ignore"}
    started = time.time()
    result = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=600, env=environment)
    print(f"two processes: {time.time() - started:.1f} s")
    assert result.returncode == 0, result.stderr[-3000:]
    return run, result


@pytest.mark.slow
def test_two_processes_lose_what_one_does_with_the_same_global_batch(two_processes, tiny_model_dir, dataset, tmp_path,
                                                                     workspace):
    """Two processes of batch 2 against one of batch 4: the same rows in each step, the same losses."""
    run, _ = two_processes
    one = run_training(load_config("cpu-lora", {"base_model": str(tiny_model_dir), "dataset": str(dataset),
                                                "output_dir": str(tmp_path / "one"), "batch_size": 4, **SETTINGS}))
    assert one["status"] == "finished"
    single, double = step_events(tmp_path / "one"), step_events(run)
    assert [event["step"] for event in double] == [event["step"] for event in single] == [1, 2, 3]
    # The same rows: the tokens trained by each step, counted over both processes, are those of the one process.
    assert [event["trained_tokens"] for event in double] == [event["trained_tokens"] for event in single]
    differences = [abs(a["loss"] - b["loss"]) for a, b in zip(single, double)]
    print("loss differences:", differences)
    assert max(differences) < LOSS_TOLERANCE, (single, double)
    assert single[-1]["loss"] < single[0]["loss"] - 0.01  # it learned: the match is not of two idle runs


@pytest.mark.slow
def test_two_processes_write_one_run_folder_once(two_processes):
    run, result = two_processes
    events = read_jsonl(run / "events.jsonl")
    assert Counter(event["step"] for event in events if "loss" in event) == {1: 1, 2: 1, 3: 1}
    assert Counter(event["event"] for event in events if "event" in event) == {"started": 1, "prepared": 1, "finished": 1}
    evaluations = [event for event in events if "eval_loss" in event]
    assert [event["step"] for event in evaluations] == [3] and len(evaluations[0]["probes"]) == 2
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["steps"] == 3
    assert result.stdout.count('"status"') == 1  # the summary printed by the first process only
    assert load_config(str(run / "config.yaml")).num_processes == 2
    assert json.loads((run / "job.json").read_text())["pid"] == events[0]["pid"]
    assert [path.name for path in run.parent.iterdir() if not path.name.startswith(".")] == ["two"]  # no second run
    assert {"adapter", "checkpoints"} <= {path.name for path in run.iterdir()}


@pytest.fixture(scope="module")
def aborted(tmp_path_factory, tiny_model_dir, dataset):
    """A two-process job the app's job manager started and aborted mid-run: what it left, and the step it was at."""
    workspace = tmp_path_factory.mktemp("abort-workspace")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDIO_WORKSPACE", str(workspace))
        config = load_config("cpu-lora", {"dataset": str(dataset), "base_model": str(tiny_model_dir), "batch_size": 2,
                                          "max_steps": 40, "eval_steps": 0, "save_steps": 1000, "validation_split": 0,
                                          "num_processes": 2})
        config.output_dir = str(workspace / "runs" / "aborted")
        manager = JobManager()
        run = manager.start(config)
        seen = 0
        deadline = time.time() + 300
        while seen < 2:
            assert manager.status(run) == "running" and time.time() < deadline, (run / "train.log").read_text()[-3000:]
            steps = step_events(run)
            seen = steps[-1]["step"] if steps else 0
            time.sleep(0.02)
        training = run_processes(run)
        (run / "abort").touch()
        asked = time.time()
        status = manager.abort(run, timeout=120)
        stopped = time.time() - asked
        print(f"abort: stopped {stopped:.1f} s after the request, at step {step_events(run)[-1]['step']} (seen {seen})")
        yield SimpleNamespace(manager=manager, run=run, workspace=workspace, seen=seen, training=training,
                              status=status, log=(run / "train.log").read_text(), steps=step_events(run),
                              summary=json.loads((run / "summary.json").read_text()))


@pytest.mark.slow
def test_abort_stops_both_processes_at_the_same_step(aborted):
    # The launcher and its two training processes were running; every one of them has ended, the launcher cleanly
    # (a process left waiting for the other would have held the job until the manager killed it: status failed).
    assert len(aborted.training) == 3
    assert run_processes(aborted.run) == []
    assert aborted.status == "aborted" and "aborted in" in aborted.log and "Traceback" not in aborted.log
    assert aborted.summary["status"] == "aborted"
    last = aborted.steps[-1]["step"]
    # The step running when the file appeared ends the run, or the next one where the file came just after that
    # step's check; not more.
    assert aborted.seen <= last <= aborted.seen + 2
    assert aborted.summary["steps"] == last
    assert (aborted.run / "checkpoints" / f"checkpoint-{last}" / "trainer_state.json").is_file()


@pytest.mark.slow
def test_resume_goes_on_from_the_checkpoint_with_both_processes(aborted, monkeypatch):
    monkeypatch.setenv("STUDIO_WORKSPACE", str(aborted.workspace))
    stopped_at = aborted.summary["steps"]
    aborted.manager.resume(aborted.run)
    assert aborted.manager.wait(aborted.run, timeout=300) == "finished", (aborted.run / "train.log").read_text()[-3000:]
    steps = step_events(aborted.run)
    assert [event["step"] for event in steps] == list(range(1, 41))  # each step once: on from the checkpoint
    resumed = steps[stopped_at]
    assert resumed["step"] == stopped_at + 1
    # The curve goes on: the first loss after the resume is near the last before it, not back at the start.
    assert abs(resumed["loss"] - steps[stopped_at - 1]["loss"]) < abs(resumed["loss"] - steps[0]["loss"])
    assert json.loads((aborted.run / "summary.json").read_text())["steps"] == 40
    assert "--resume" in json.loads((aborted.run / "job.json").read_text())["command"]


def test_launch_command_uses_accelerate_for_more_than_one_process():
    assert launch_command(1, ["train", "--config", "c.yaml"]) == [sys.executable, "-m", "studio", "train", "--config",
                                                                  "c.yaml"]
    command = launch_command(2, ["train", "--config", "c.yaml"])
    assert command[1:3] == ["-m", "accelerate.commands.launch"]
    assert command[command.index("--num_processes") + 1] == "2"
    assert command[-5:] == ["-m", "studio", "train", "--config", "c.yaml"]


def test_more_processes_than_the_machine_has_devices_are_refused(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    check_processes(2)
    with pytest.raises(ValueError, match="no GPU and 2 CPU core"):
        check_processes(3)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    check_processes(4)
    with pytest.raises(ValueError, match="has 4 GPU"):
        check_processes(8)


def test_the_abort_vote_of_a_single_process_is_its_own():
    from studio.training.callback import any_process

    assert any_process(True, "cpu") is True and any_process(False, "cpu") is False
