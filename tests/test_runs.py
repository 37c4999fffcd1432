"""The run folder (studio.runs): names, the files it reads and writes, its result, checkpoints, abort, going on."""

from __future__ import annotations

import json
import re

import pytest

from studio import runs
from studio.config import RunConfig


def finished_run(root, name: str, method: str = "lora", base: str = "embedded", kind: str = "adapter"):
    folder = root / "runs" / name
    folder.mkdir(parents=True)
    runs.write_config(folder, RunConfig(dataset="d.jsonl", method=method, base_model=base))
    runs.write_summary(folder, {"status": "finished", "train_loss": 1.0})
    (folder / kind).mkdir()
    (folder / kind / ("adapter_config.json" if kind == "adapter" else "config.json")).write_text("{}")
    return folder


def test_named_runs_take_plain_new_names(workspace):
    assert runs.named_run_dir("reviews-v2_中文") == workspace / "runs" / "reviews-v2_中文"
    for name in ("../x", "a/b", ".hidden", "", "x" * 81, "a b"):
        with pytest.raises(ValueError, match="letters, digits"):
            runs.named_run_dir(name)
    finished_run(workspace, "taken")
    with pytest.raises(ValueError, match="already exists"):
        runs.named_run_dir("taken")


def test_unnamed_runs_are_named_by_date_method_and_dataset(workspace):
    folder = runs.new_run_dir(RunConfig(dataset="data/reviews.jsonl", method="dora"))
    assert folder.parent == workspace / "runs" and re.fullmatch(r"\d{8}-\d{6}-dora-reviews", folder.name)


def test_files_read_back_and_unreadable_ones_read_as_empty(workspace):
    folder = finished_run(workspace, "one", method="ia3", base="my-base")
    assert runs.load_run_config(folder).method == "ia3" and runs.base_model(folder / "adapter") == "my-base"
    assert runs.read_summary(folder)["status"] == "finished" and runs.run_folders() == [folder]
    (folder / runs.SUMMARY).write_text("{not json")
    (folder / runs.CONFIG).write_text(": : :")
    assert runs.read_summary(folder) == {} and runs.read_settings(folder) == {}
    runs.write_job(folder, 123, 1.5, ["python"])
    assert runs.read_job(folder) == {"pid": 123, "started": 1.5, "command": ["python"]}
    (folder / runs.LOG).write_text("a\nb\nc\n")
    assert runs.log_tail(folder, 2) == "b\nc" and runs.log_tail(workspace, 2) == ""


def test_the_result_is_an_adapter_or_a_model(workspace):
    adapter, model = finished_run(workspace, "a"), finished_run(workspace, "m", method="full", kind="model")
    assert runs.trained_weights(adapter) == ("adapter", adapter / "adapter")
    assert runs.trained_weights(model) == ("model", model / "model")
    assert runs.trained_weights(adapter / "adapter") == ("adapter", adapter / "adapter")
    assert runs.result_folder(adapter, saves_adapter=False) == adapter / "model"
    (workspace / "runs" / "empty").mkdir()
    with pytest.raises(ValueError, match="is the run finished"):
        runs.trained_weights(workspace / "runs" / "empty")
    assert not runs.has_weights(workspace / "runs" / "empty") and runs.has_weights(model)


def test_the_newest_whole_checkpoint_is_the_one_resumed(workspace):
    folder = finished_run(workspace, "c")
    for step, whole in ((2, True), (4, True), (6, False)):
        checkpoint = folder / runs.CHECKPOINTS / f"checkpoint-{step}"
        checkpoint.mkdir(parents=True)
        if whole:
            (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    assert runs.latest_checkpoint(folder).name == "checkpoint-4"
    assert runs.latest_checkpoint(workspace / "runs") is None


def test_abort_is_a_file_the_job_watches(workspace):
    folder = finished_run(workspace, "x")
    assert not runs.abort_requested(folder)
    runs.request_abort(folder)
    assert runs.abort_requested(folder)
    runs.clear_abort(folder)
    runs.clear_abort(folder)
    assert not runs.abort_requested(folder)


def test_going_on_from_a_run_checks_it_fits(workspace):
    finished_run(workspace, "sft")
    finished_run(workspace, "whole", method="full", kind="model")
    assert runs.start_from_run(RunConfig(dataset="d.jsonl", start_from="sft")).name == "sft"
    for settings, message in (({"start_from": "nowhere"}, "not a run folder"),
                              ({"start_from": "whole", "method": "full"}, "saved a whole model"),
                              ({"start_from": "sft", "method": "dora"}, "set method to lora"),
                              ({"start_from": "sft", "base_model": "other"}, "set base_model to 'embedded'")):
        with pytest.raises(ValueError, match=message):
            runs.start_from_run(RunConfig(dataset="d.jsonl", **settings))
    more = runs.train_more(workspace / "runs" / "sft")
    assert more.start_from == "sft" and more.output_dir == ""
    whole = runs.train_more(workspace / "runs" / "whole")
    assert whole.base_model == str(workspace / "runs" / "whole" / "model") and whole.start_from == ""
    with pytest.raises(ValueError, match="is still running"):
        runs.refuse_finished(workspace / "runs" / "sft", "running")
    with pytest.raises(ValueError, match="Train more"):
        runs.refuse_finished(workspace / "runs" / "sft", "finished")
