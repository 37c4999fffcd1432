"""Saves survive a killed process: datasets, presets and run files are whole, old or new, never half.

A writer process saves every kind of file in a loop and is killed with SIGKILL at random moments;
after each kill every file must read back as one whole version. The interruption points of each
save are also tested one by one, without timing luck.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from studio import workspace
from studio.config import from_dict
from studio.runs import latest_checkpoint
from studio.workspace import append_jsonl, atomic_write_text, read_jsonl, replace_folder

PROJECT = Path(__file__).resolve().parent.parent
ROWS = 3000
KILLS = 12

WRITER = r"""
import itertools, json, sys
from pathlib import Path

import studio.config as config
from studio.data import write_jsonl
from studio.workspace import append_jsonl, atomic_write_json, atomic_write_text, replace_folder

root, process, rows = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
run = root / "runs" / "demo"
run.mkdir(parents=True, exist_ok=True)
prompts = ["a long probe prompt " * 20] * 500  # big files, so a kill lands mid-write
for version in itertools.count():
    write_jsonl(root / "datasets" / "data.jsonl",
                [{"text": f"version {version} row {n} " + "x" * 200} for n in range(rows)], keep_previous=True)
    config.save_preset(config.RunConfig(lora_rank=version + 1, probe_prompts=prompts), "mine")
    atomic_write_text(run / "config.yaml", config.RunConfig(seed=version, dataset="d", probe_prompts=prompts).to_yaml())
    atomic_write_json(run / "summary.json", {"status": "finished", "version": version, "padding": "s" * 400_000})
    atomic_write_json(run / "job.json", {"pid": version, "padding": "j" * 100_000})
    append_jsonl(run / "events.jsonl", {"process": process, "step": version, "padding": "e" * 200_000})
    staging = run / ".adapter.partial"
    staging.mkdir(exist_ok=True)
    (staging / "adapter_config.json").write_text(json.dumps({"version": version}))
    (staging / "adapter_model.safetensors").write_bytes(version.to_bytes(8, "little") * 200_000)
    replace_folder(staging, run / "adapter")
    if version == 0:
        print("ready", flush=True)
"""


def check_whole(root: Path) -> None:
    """Every file the writer saves reads back as one complete version."""
    datasets = root / "datasets"
    for path in [datasets / "data.jsonl", *datasets.glob("data.jsonl.prev")]:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]
        versions = {row["text"].split()[1] for row in rows}
        assert len(rows) == ROWS and len(versions) == 1, (path.name, len(rows), versions)
    preset = (root / "workspace" / "presets" / "mine.yaml").read_text(encoding="utf-8")
    assert preset.startswith("# Saved from Tuning Studio") and yaml.safe_load(preset)["lora_rank"] >= 1
    run = root / "runs" / "demo"
    assert from_dict(yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))).dataset == "d"
    assert json.loads((run / "summary.json").read_text())["status"] == "finished"
    assert "pid" in json.loads((run / "job.json").read_text())
    adapter = run / "adapter" if (run / "adapter").exists() else run / ".adapter.old"
    version = json.loads((adapter / "adapter_config.json").read_text())["version"]
    assert (adapter / "adapter_model.safetensors").read_bytes() == version.to_bytes(8, "little") * 200_000


@pytest.mark.slow
def test_a_writer_killed_mid_save_leaves_every_file_whole(tmp_path):
    rng = random.Random(7)
    environment = {**os.environ, "PYTHONPATH": str(PROJECT), "STUDIO_WORKSPACE": str(tmp_path / "workspace")}
    for process in range(KILLS):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(process), str(ROWS)],
                                  stdout=subprocess.PIPE, env=environment, cwd=PROJECT)
        assert writer.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.5))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        check_whole(tmp_path)
    # Each process's events are all there, in order: a line torn by a kill never swallows the next one.
    events = read_jsonl(tmp_path / "runs" / "demo" / "events.jsonl")
    for process in range(KILLS):
        steps = [event["step"] for event in events if event["process"] == process]
        assert steps == list(range(len(steps))) and steps, (process, steps)


class Interrupted(BaseException):
    """Stands for a kill at one exact point of a save."""


def interrupt_at(monkeypatch, call: int) -> list:
    """Make the `call`-th file-system step of a save (rename, link, copy, rmtree) stop the process."""
    steps = []

    def wrap(function):
        def step(*args, **kwargs):
            steps.append(function.__name__)
            if len(steps) == call:
                raise Interrupted
            return function(*args, **kwargs)
        return step

    for module, name in ((workspace.os, "replace"), (workspace.os, "link"), (workspace.shutil, "copy2"),
                         (workspace.shutil, "rmtree")):
        monkeypatch.setattr(module, name, wrap(getattr(module, name)))
    return steps


@pytest.mark.parametrize("call", [1, 2, 3, 4])
def test_a_save_stopped_at_any_step_keeps_the_file(call, tmp_path, monkeypatch):
    path = tmp_path / "data.jsonl"
    atomic_write_text(path, "old\n")
    atomic_write_text(path, "older\n", keep_previous=True)
    atomic_write_text(path, "old\n", keep_previous=True)
    interrupt_at(monkeypatch, call)
    try:
        atomic_write_text(path, "new\n", keep_previous=True)
    except Interrupted:
        pass
    assert path.read_text() in ("old\n", "new\n")
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("call", [1, 2, 3, 4])
def test_a_folder_swap_stopped_at_any_step_keeps_a_whole_folder(call, tmp_path, monkeypatch):
    target = tmp_path / "adapter"
    target.mkdir()
    (target / "weights").write_text("old")
    staging = tmp_path / ".adapter.partial"
    staging.mkdir()
    (staging / "weights").write_text("new")
    interrupt_at(monkeypatch, call)
    try:
        replace_folder(staging, target)
    except Interrupted:
        pass
    monkeypatch.undo()
    found = target if target.exists() else target.with_name(".adapter.old")
    assert (found / "weights").read_text() in ("old", "new")
    # The next save puts things right whatever state the last one left.
    staging.mkdir(exist_ok=True)
    (staging / "weights").write_text("newer")
    replace_folder(staging, target)
    assert (target / "weights").read_text() == "newer" and not target.with_name(".adapter.old").exists()


def test_a_line_torn_by_a_kill_costs_only_itself(tmp_path):
    events = tmp_path / "events.jsonl"
    append_jsonl(events, {"step": 1})
    with open(events, "a", encoding="utf-8") as handle:
        handle.write('{"step": 2, "loss": 0.')  # the writer died here
    append_jsonl(events, {"step": 3})
    assert read_jsonl(events) == [{"step": 1}, {"step": 3}]


def test_a_checkpoint_cut_short_is_passed_over(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    for step, state in ((3, '{"global_step": 3}'), (6, '{"global_step": 6}'), (9, '{"global_st'), (12, None)):
        folder = checkpoints / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "adapter_model.safetensors").write_bytes(b"weights")
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
    assert latest_checkpoint(tmp_path) == checkpoints / "checkpoint-6"
    assert latest_checkpoint(tmp_path / "nothing-here") is None


def test_an_export_stopped_halfway_leaves_no_folder_that_looks_like_a_model(trained_run, tmp_path, monkeypatch):
    from studio import export

    def killed_mid_merge(run_dir, adapter, output):
        output.mkdir(parents=True)
        (output / "config.json").write_text("{}")  # the merge had begun writing
        raise Interrupted

    monkeypatch.setattr(export, "merge_adapter", killed_mid_merge)
    with pytest.raises(Interrupted):
        export.export_run(trained_run, tmp_path / "merged", merge=True)
    assert not (tmp_path / "merged").exists()
    monkeypatch.undo()
    monkeypatch.setenv("STUDIO_WORKSPACE", str(trained_run.parent.parent))
    folder = export.export_run(trained_run, tmp_path / "merged", merge=True)
    assert (folder / "config.json").exists() and not list(tmp_path.glob(".merged*"))
