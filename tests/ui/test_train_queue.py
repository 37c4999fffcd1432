"""The Train tab's queue: Add to queue with Start's settings and checks, the queued run in the view and the runs list,
and Remove from queue, which refuses anything but a queued run of the workspace whatever a request sends."""

from __future__ import annotations

import json

import gradio as gr
import pytest

from studio.jobs import JobManager
from studio.run_queue import queued
from studio.ui import train_runs
from tests.ui.conftest import chinese_page, tiny_settings


def test_add_to_queue_shows_the_queued_run_and_remove_takes_it_out(tiny_model_dir, tiny_sft_file, workspace):
    manager = JobManager()
    settings = tiny_settings(tiny_model_dir, tiny_sft_file)
    first, name = train_runs.enqueue_run(manager, None, None, "first", *settings)
    # Nothing trains: the page follows the queued run, which starts in a moment; the name field is emptied.
    assert first == str(workspace.resolve() / "runs" / "first") and name == ""
    second, _ = train_runs.enqueue_run(manager, None, first, "", *settings)
    assert [str(path) for path in queued()] == [first, second]
    view = train_runs.show_run(manager, second)
    assert view[0] == "queued" and view[2] == f"**{second.rsplit('/', 1)[1]}** · queued · number 2 in the queue"
    start, abort, resume, more, next_steps, enqueue, remove = view[8:]
    assert start["interactive"] is True and enqueue["variant"] == "secondary" and remove["visible"] is True
    assert abort["interactive"] is False and resume["visible"] is False and more["visible"] is False
    assert train_runs.run_card(second, "queued")[0]["visible"] is False
    assert view[7].iloc[:, :2].values.tolist() == [["first", "queued"], [second.rsplit("/", 1)[1], "queued"]]
    page = chinese_page()
    assert train_runs.runs_frame(manager, page).iloc[0, 1] == "排队中"
    assert train_runs.show_run(manager, first, page)[2] == "**first** · 排队中 · 队列中第 1 个"
    # Removed, its folder goes, and the page follows the newest run left.
    assert train_runs.remove_queued(manager, first) == second
    assert [str(path) for path in queued()] == [second] and not (workspace / "runs" / "first").exists()
    assert train_runs.show_run(manager, train_runs.followed_run(manager))[-1]["visible"] is True


def test_while_a_job_trains_add_to_queue_is_the_main_button_and_the_page_stays_on_its_run(
        tiny_model_dir, tiny_sft_file, workspace, monkeypatch):
    manager = JobManager()
    settings = tiny_settings(tiny_model_dir, tiny_sft_file)
    watched, _ = train_runs.enqueue_run(manager, None, None, "watched", *settings)
    monkeypatch.setattr(JobManager, "running", lambda self: manager.describe(watched))
    assert train_runs.enqueue_run(manager, None, watched, "next", *settings)[0] == watched
    start, *_, enqueue, remove = train_runs.controls("running", True)
    assert start["interactive"] is False and enqueue["variant"] == "primary" and remove["visible"] is False


def test_queue_handlers_refuse_what_a_request_may_send(tiny_model_dir, tiny_sft_file, workspace):
    manager = JobManager()
    settings = tiny_settings(tiny_model_dir, tiny_sft_file)
    train_runs.enqueue_run(manager, None, None, "taken", *settings)
    for name in ("taken", "../x", "a/b", "two words", "x" * 81):
        with pytest.raises(gr.Error):
            train_runs.enqueue_run(manager, None, None, name, *settings)
    for broken in (tiny_settings(tiny_model_dir, tiny_sft_file, batch_size=0),
                   tiny_settings(tiny_model_dir, "/etc/passwd"), tiny_settings("/etc", tiny_sft_file)):
        with pytest.raises(gr.Error):
            train_runs.enqueue_run(manager, None, None, "", *broken)
    finished = workspace / "runs" / "finished"
    finished.mkdir()
    (finished / "config.yaml").write_text("method: lora\n")
    (finished / "summary.json").write_text(json.dumps({"status": "finished"}))
    for value in (None, "", "finished", str(finished), "../taken", "/etc", "/etc/passwd", "nowhere", ".queue.lock",
                  str(workspace / "runs" / "taken" / "config.yaml")):
        with pytest.raises(gr.Error):
            train_runs.remove_queued(manager, value)
    assert [path.name for path in queued()] == ["taken"] and finished.exists()
    with pytest.raises(gr.Error, match="finished 不在队列中等待"):
        train_runs.remove_queued(manager, "finished", request=chinese_page())
    with pytest.raises(gr.Error, match="请先在训练记录中选中要移出队列的排队训练"):
        train_runs.remove_queued(manager, None, request=chinese_page())
