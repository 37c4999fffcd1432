"""The queue of runs: order, removal, two processes adding at once, a run that cannot start, and a queue that
goes on through an abort and across an app restart, on the tiny model."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys

import pytest

from studio import run_queue
from studio.jobs import JobManager
from studio.run_queue import enqueue, queued, remove, start_runner
from studio.runs import read_job, read_summary
from tests.conftest import PROJECT, job_config, logged_steps, wait_for

QUICK = dict(max_steps=2, eval_steps=0, save_steps=1000, validation_split=0.0)


def quick_config(model_dir, dataset, **overrides):
    return job_config(model_dir, dataset, "", **{**QUICK, **overrides})


def names(folders) -> list[str]:
    return [folder.name for folder in folders]


def test_queued_runs_keep_their_order_and_hold_only_their_settings(tiny_model_dir, tiny_sft_file, workspace,
                                                                  monkeypatch):
    from studio import runs

    first = enqueue(quick_config(tiny_model_dir, tiny_sft_file), name="first")
    unnamed = enqueue(quick_config(tiny_model_dir, tiny_sft_file))
    assert unnamed.name.endswith("-lora-tiny")
    # Two unnamed runs queued within the same second: the second gets the dated name with a number.
    monkeypatch.setattr(runs, "new_run_dir", lambda config: unnamed)
    dated = [unnamed, enqueue(quick_config(tiny_model_dir, tiny_sft_file))]
    assert dated[1].name == f"{unnamed.name}-2"
    last = enqueue(quick_config(tiny_model_dir, tiny_sft_file), name="last")
    assert queued() == [first, *dated, last] and first == workspace.resolve() / "runs" / "first"
    assert {path.name for path in first.iterdir()} == {"config.yaml"}
    assert f"output_dir: {first}" in (first / "config.yaml").read_text()
    manager = JobManager()
    assert manager.status(first) == "queued" and run_queue.position(last) == 4
    assert names(run.path for run in manager.list_runs()) == names([first, *dated, last])
    # A name taken, or one that is not a plain name, is refused and queues nothing.
    for name in ("first", "../outside", "a/b", "two words"):
        with pytest.raises(ValueError):
            enqueue(quick_config(tiny_model_dir, tiny_sft_file), name=name)
    with pytest.raises(ValueError, match="batch_size"):
        enqueue(quick_config(tiny_model_dir, tiny_sft_file, batch_size=0), name="bad")
    assert queued() == [first, *dated, last] and not (workspace / "runs" / "bad").exists()


def test_remove_takes_only_a_queued_run_out(tiny_model_dir, tiny_sft_file, workspace):
    kept, removed, gone = (enqueue(quick_config(tiny_model_dir, tiny_sft_file), name=name)
                           for name in ("kept", "removed", "gone"))
    remove("removed")
    assert not removed.exists() and queued() == [kept, gone]
    # A folder deleted by hand leaves the queue without a word.
    for path in gone.iterdir():
        path.unlink()
    gone.rmdir()
    assert queued() == [kept]
    finished = workspace / "runs" / "finished"
    finished.mkdir()
    (finished / "config.yaml").write_text("method: lora\n")
    (finished / "summary.json").write_text(json.dumps({"status": "finished"}))
    unqueued = workspace / "runs" / "created"
    unqueued.mkdir()
    (unqueued / "config.yaml").write_text("method: lora\n")
    for name in ("removed", "finished", "created", "", "../kept", "/etc", str(workspace / "runs"), ".queue.lock"):
        with pytest.raises(ValueError):
            remove(name)
    assert finished.exists() and unqueued.exists() and queued() == [kept]
    assert JobManager().status(unqueued) == "created"
    # The queue file forgets the deleted folder at its next change.
    enqueue(quick_config(tiny_model_dir, tiny_sft_file), name="next")
    assert json.loads((workspace / "runs" / "queue.json").read_text()) == {"runs": ["kept", "next"]}


def add_runs(prefix: str, count: int, ready) -> None:
    from studio.config import RunConfig

    ready.wait()
    for index in range(count):
        enqueue(RunConfig(dataset="data.jsonl"), name=f"{prefix}-{index}")


def test_two_processes_adding_at_once_lose_no_run(workspace, monkeypatch):
    monkeypatch.setattr("studio.preflight.check_run", lambda config: None)  # the forked processes inherit it
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    workers = [context.Process(target=add_runs, args=(prefix, 15, ready)) for prefix in ("a", "b")]
    for worker in workers:
        worker.start()
    ready.set()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    found = names(queued())
    assert len(found) == 30
    for prefix in ("a", "b"):
        assert [name for name in found if name.startswith(prefix)] == [f"{prefix}-{index}" for index in range(15)]


@pytest.mark.slow  # starts training jobs or servers as processes of their own
def test_a_run_that_cannot_start_fails_and_an_abort_lets_the_queue_go_on(tiny_model_dir, tiny_sft_file, workspace,
                                                                         monkeypatch):
    too_big = enqueue(quick_config(tiny_model_dir, tiny_sft_file), name="too-big")
    long = enqueue(quick_config(tiny_model_dir, tiny_sft_file, max_steps=3000), name="long")
    after = enqueue(quick_config(tiny_model_dir, tiny_sft_file), name="after")
    from studio import preflight

    checked = preflight.check_run

    def memory_now_short(config, *args, **kwargs):
        if config.output_dir.endswith("too-big"):
            raise ValueError("This run needs about 9.0 GiB but 2.0 GiB is free on the cpu; it will likely run out of "
                             "memory. To fit: use qlora.")
        return checked(config, *args, **kwargs)

    monkeypatch.setattr(preflight, "check_run", memory_now_short)
    manager = JobManager()
    assert manager.advance() == long
    try:
        summary = read_summary(too_big)
        assert summary["status"] == "failed" and "9.0 GiB" in summary["error"] and queued() == [after]
        assert manager.status(too_big) == "failed" and manager.status(after) == "queued"
        assert manager.advance() is None  # one job at a time
        assert [run.name for run in manager.list_runs()] == ["long", "after", "too-big"]
        wait_for(lambda: len(logged_steps(long)) >= 1)
    finally:
        assert manager.abort(long) == "aborted"
    assert manager.advance() == after and queued() == []
    assert manager.wait(after, timeout=180) == "finished", (after / "train.log").read_text()


APP = ("import time; from studio.jobs import JobManager; from studio.run_queue import start_runner; "
       "start_runner(JobManager(), 0.2); time.sleep(600)")


@pytest.mark.slow  # starts training jobs or servers as processes of their own
def test_a_queue_of_three_finishes_in_order_across_an_app_restart(tiny_model_dir, tiny_sft_file, workspace):
    """An app (its queue runner) starts the first run and is killed while it trains; the restarted app finds that
    job still training, waits for it, and starts the other two after it, one at a time, in queue order."""
    order = ("first", "second", "third")
    folders = [enqueue(quick_config(tiny_model_dir, tiny_sft_file), name=name) for name in order]
    app = subprocess.Popen([sys.executable, "-c", APP], cwd=PROJECT, env=dict(os.environ))
    try:
        wait_for(lambda: JobManager().status(folders[0]) == "running", timeout=120)
    finally:
        app.kill()
        app.wait(timeout=30)
    pid = read_job(folders[0])["pid"]
    restarted = JobManager()
    assert restarted.status(folders[0]) == "running" and queued() == folders[1:]
    runner = start_runner(restarted, interval=0.2)
    try:
        wait_for(lambda: all(read_summary(folder) for folder in folders), timeout=300)
    finally:
        runner.stop()
    summaries = [read_summary(folder) for folder in folders]
    assert [summary["status"] for summary in summaries] == ["finished"] * 3, summaries
    jobs = [read_job(folder) for folder in folders]
    assert jobs[0]["pid"] == pid and queued() == []
    # Each started after the one before it had ended.
    for earlier, summary, later in zip(jobs, summaries, jobs[1:]):
        assert earlier["started"] + summary["wall_seconds"] <= later["started"]
