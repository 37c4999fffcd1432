"""The command line on the tiny model: train, the queue, generate, eval, export and data check."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from studio.__main__ import main
from tests.conftest import PROJECT


def train_tiny(model_dir, dataset, output, *extra) -> int:
    return main(["train", "--preset", "cpu-lora", "--dataset", str(dataset), "--output", str(output),
                 "--set", f"base_model={model_dir}", "--set", "max_steps=4", "--set", "batch_size=2",
                 "--set", "eval_steps=2", "--set", "probe_max_new_tokens=2", *extra])


@pytest.fixture
def tiny_run(tiny_model_dir, tiny_sft_file, tmp_path, workspace):
    assert train_tiny(tiny_model_dir, tiny_sft_file, tmp_path / "run") == 0
    return tmp_path / "run"


def test_train_prints_progress_and_writes_the_run_folder(tiny_run, capsys):
    assert {"config.yaml", "events.jsonl", "summary.json", "adapter", "checkpoints"} <= {p.name for p in tiny_run.iterdir()}
    assert json.loads((tiny_run / "summary.json").read_text())["status"] == "finished"


def test_train_exits_non_zero_with_the_reason(tiny_model_dir, tmp_path, workspace, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "hi", "output": ""}\n')
    assert train_tiny(tiny_model_dir, bad, tmp_path / "failed") == 1
    assert "row 1, field 'output'" in capsys.readouterr().err
    assert json.loads((tmp_path / "failed" / "summary.json").read_text())["status"] == "failed"


def test_generate_with_a_run_is_repeatable_at_temperature_zero(tiny_run, capsys):
    arguments = ["generate", "--adapter", str(tiny_run), "--prompt", "the sky", "--temperature", "0", "--max-new-tokens", "5"]
    assert main(arguments) == 0
    first = capsys.readouterr().out
    assert main(arguments) == 0
    assert capsys.readouterr().out == first


def test_eval_prints_json_metrics(tiny_run, tiny_sft_file, capsys):
    assert main(["eval", "--adapter", str(tiny_run), "--dataset", str(tiny_sft_file), "--limit", "4"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["rows"] == 4 and 0 <= metrics["exact_match"] <= 1 and metrics["perplexity"] > 1


def test_export_merged_loads_with_plain_transformers_and_answers_the_same(tiny_run, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    from studio.generate import GenerationSettings, generate_text, load_for_chat

    assert main(["export", "--run", str(tiny_run), "--output", str(tmp_path / "merged"), "--merge"]) == 0
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    tuned, tokenizer = load_for_chat(None, tiny_run)
    ids = tokenizer("the cat sat", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.equal(merged.generate(ids, max_new_tokens=6, do_sample=False),
                           tuned.generate(ids, max_new_tokens=6, do_sample=False))
    # Through the chat template the merged folder saved with it, the greedy answer is the same too.
    merged_model, merged_tokenizer = load_for_chat(None, tmp_path / "merged")
    question = [{"role": "user", "content": "classify the review as positive or negative"}]
    greedy = GenerationSettings(temperature=0, max_new_tokens=8)
    assert generate_text(merged_model, merged_tokenizer, question, greedy) == generate_text(tuned, tokenizer, question, greedy)
    assert main(["export", "--run", str(tiny_run), "--output", str(tmp_path / "adapter-copy")]) == 0
    assert (tmp_path / "adapter-copy" / "adapter_config.json").exists()
    assert main(["export", "--run", str(tiny_run), "--output", str(tmp_path / "merged"), "--merge"]) == 1


def test_data_check_names_row_and_field_and_writes_nothing(tmp_path, workspace, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "c"}\n')
    assert main(["data", "check", str(bad), "--no-tokens"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert any("row 2, field 'output'" in problem for problem in report["problems"])
    bad.write_text('{"instruction": "a", "output": "b"}\nnot json\n')
    assert main(["data", "check", str(bad), "--no-tokens"]) == 1
    assert "row 2: is not valid JSON" in capsys.readouterr().out
    assert not (workspace / "datasets").exists() or not any((workspace / "datasets").iterdir())


def test_data_check_passes_a_good_file(tiny_sft_file, capsys):
    assert main(["data", "check", str(tiny_sft_file), "--no-tokens"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 12


@pytest.mark.slow  # starts training jobs or servers as processes of their own
def test_train_runs_under_accelerate_launch(tiny_model_dir, tiny_sft_file, tmp_path, workspace):
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--cpu",
               "-m", "studio", "train", "--preset", "cpu-lora", "--dataset", str(tiny_sft_file),
               "--output", str(tmp_path / "accelerated"), "--set", f"base_model={tiny_model_dir}",
               "--set", "max_steps=2", "--set", "batch_size=2"]
    result = subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "accelerated" / "summary.json").read_text())["status"] == "finished"


def test_train_refuses_more_processes_than_the_machine_has_devices(capsys):
    assert main(["train", "--preset", "cpu-lora", "--set", "num_processes=99"]) == 1
    assert "num_processes is 99" in capsys.readouterr().err


def queue_add(model_dir, dataset, *extra) -> int:
    return main(["queue", "add", "--preset", "cpu-lora", "--dataset", str(dataset), "--set", f"base_model={model_dir}",
                 "--set", "max_steps=2", "--set", "batch_size=2", "--set", "eval_steps=0",
                 "--set", "validation_split=0", "--set", "probe_max_new_tokens=2", *extra])


def test_queue_add_list_and_remove(tiny_model_dir, tiny_sft_file, workspace, capsys, monkeypatch):
    monkeypatch.chdir(tiny_sft_file.parent)
    assert queue_add(tiny_model_dir, tiny_sft_file.name, "--name", "first") == 0
    assert queue_add(tiny_model_dir, tiny_sft_file) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "queued first (number 1 in the queue)" and out[1].endswith("(number 2 in the queue)")
    # A data file named relative to where the command ran is kept as a full path: the run starts later, elsewhere.
    assert f"dataset: {tiny_sft_file}" in (workspace / "runs" / "first" / "config.yaml").read_text()
    assert main(["queue", "list"]) == 0
    listed = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert [row[:3] for row in listed] == [["first", "queued", "lora"], [listed[1][0], "queued", "lora"]]
    assert listed[0][3] == "tiny.jsonl"
    assert queue_add(tiny_model_dir, tiny_sft_file, "--name", "first") == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["queue", "remove", "first"]) == 0
    assert main(["queue", "remove", "first"]) == 1
    assert "No run 'first'" in capsys.readouterr().err
    assert main(["queue", "remove", listed[1][0]]) == 0
    assert main(["queue", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "Nothing runs and the queue is empty."


@pytest.mark.slow  # starts training jobs or servers as processes of their own
def test_queue_run_trains_the_queue_in_order(tiny_model_dir, tiny_sft_file, workspace, capsys):
    for name in ("one", "two"):
        assert queue_add(tiny_model_dir, tiny_sft_file, "--name", name) == 0
    capsys.readouterr()
    assert main(["queue", "run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["one", "one", "two", "two", "The queue is empty."]
    assert lines[0] == "one: started (lora, tiny.jsonl)" and lines[1].startswith("one: finished in 0:")
    assert lines[3].startswith("two: finished in")


@pytest.mark.slow  # starts training jobs or servers as processes of their own
def test_ctrl_c_in_queue_run_leaves_the_running_job_alone(tiny_model_dir, tiny_sft_file, workspace, capsys,
                                                          monkeypatch):
    from studio.jobs import JobManager

    assert queue_add(tiny_model_dir, tiny_sft_file, "--name", "long", "--set", "max_steps=3000") == 0

    def interrupted(self, run_dir, timeout=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(JobManager, "wait", interrupted)
    assert main(["queue", "run"]) == 130
    assert "long goes on training" in capsys.readouterr().err
    manager = JobManager()
    assert manager.status(workspace / "runs" / "long") == "running"
    assert manager.abort(workspace / "runs" / "long") == "aborted"
