"""Tests for studio.data: loading and importing datasets all-or-nothing, splits, placeholders, `data check`."""

from __future__ import annotations

import json

import pytest

from studio.data import check_file, import_dataset, load_dataset, placeholder_warning, placeholders, split_rows
from studio.messages import to_messages
from studio.shapes import DatasetError
from studio.tokens import render_example
from tests.conftest import FIXTURES, INSTRUCTION_ROWS, needs_fixtures, write_file, write_jsonl


def test_load_and_import_are_all_or_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path / "workspace"))
    bad = write_jsonl(tmp_path / "bad.jsonl", INSTRUCTION_ROWS + [{"instruction": "q", "output": ""}])
    with pytest.raises(DatasetError, match="row 3, field 'output'"):
        load_dataset(bad)
    with pytest.raises(DatasetError):
        import_dataset(bad, name="mine")
    assert not (tmp_path / "workspace" / "datasets" / "mine.jsonl").exists()

    good = write_file(tmp_path / "good.json", json.dumps(INSTRUCTION_ROWS))
    target = import_dataset(good, name="../My data")
    assert target == tmp_path / "workspace" / "datasets" / "My-data.jsonl"
    assert [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()] == INSTRUCTION_ROWS
    import_dataset(good, name="My data")
    assert target.with_name("My-data.jsonl.prev").exists()
    assert load_dataset(target).shape == "instruction"


def test_placeholders_stay_literal(tmp_path, monkeypatch, tiny_tokenizer):
    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path))
    row = {"instruction": "Who are you?", "input": "", "output": "I am {{name}}, made by {{author}}."}
    target = import_dataset(write_jsonl(tmp_path / "identity.jsonl", [row]))
    assert "{{name}}" in target.read_text(encoding="utf-8")
    assert to_messages(row, "instruction")[-1]["content"] == "I am {{name}}, made by {{author}}."
    assert "{{author}}" in "".join(text for text, _ in render_example(row, "instruction", tiny_tokenizer))


def test_split_is_deterministic():
    rows = [{"text": str(number)} for number in range(10)]
    train, validation = split_rows(rows, 0.2, seed=7)
    assert (train, validation) == split_rows(rows, 0.2, seed=7)
    assert len(validation) == 2 and sorted(train + validation, key=lambda row: int(row["text"])) == rows
    assert split_rows(rows, 0.2, seed=8) != (train, validation)
    assert split_rows(rows, 0, seed=7) == (rows, [])
    assert len(split_rows(rows[:2], 0.01, seed=7)[1]) == 1
    with pytest.raises(ValueError, match="validation_split"):
        split_rows(rows, 1.0, seed=7)


def test_check_file_report(tmp_path, tiny_tokenizer):
    good = write_jsonl(tmp_path / "good.jsonl", INSTRUCTION_ROWS)
    report = check_file(good)
    assert report == {"file": str(good), "shape": "instruction", "rows": 2, "problems": [], "ok": True, "warnings": []}
    report = check_file(good, tokenizer=tiny_tokenizer, cutoff_length=5)
    assert set(report["tokens"]) == {"min", "mean", "max", "p95"}
    assert report["tokens"]["min"] <= report["tokens"]["mean"] <= report["tokens"]["max"] == report["tokens"]["p95"]
    assert report["over_cutoff"] == 2
    bad = check_file(write_file(tmp_path / "bad.jsonl", '{"text": ""}\nnot json\n'))
    assert bad["ok"] is False and bad["problems"][1] == "row 2: is not valid JSON (Expecting value at column 1)"
    assert bad["problems"][0].startswith("row 1, field 'text'")  # the broken line hides no other problem
    bad = check_file(write_file(tmp_path / "empty_text.jsonl", '{"text": ""}\n{"text": "fine"}\n'), tiny_tokenizer, 100)
    assert bad["ok"] is False and bad["shape"] == "text" and bad["tokens"]["min"] > 0
    with pytest.raises(FileNotFoundError):
        check_file(tmp_path / "missing.jsonl")


def test_placeholders_left_in_the_data_are_named_with_their_rows(tmp_path):
    rows = [{"instruction": "Who are you?", "input": "", "output": "I am {{name}}, made by {{ author }}."},
            {"instruction": "Hi", "input": "", "output": "Hello, I am {{name}}."},
            {"instruction": "2+2?", "input": "", "output": "4"}]
    assert placeholders(rows) == {"{{name}}": [1, 2], "{{ author }}": [1]}
    assert "{{name}} (2 rows)" in placeholder_warning(rows) and placeholder_warning(rows[2:]) == ""
    path = tmp_path / "identity.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    report = check_file(path)
    assert report["ok"] and "{{name}}" in report["warnings"][0]


@needs_fixtures
@pytest.mark.parametrize("name, shape, rows", [
    ("identity.json", "instruction", 91),
    ("alpaca_en_demo.json", "instruction", 999),
    ("alpaca_zh_demo.json", "instruction", 1000),
    ("dpo_en_demo.json", "preference", 300),
    ("glaive_toolcall_en_demo.json", "chat", 300),
    ("c4_demo.jsonl", "text", 300),
    ("wiki_demo.txt", "text", 30),
])
def test_imports_llamafactory_fixtures(name, shape, rows, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path))
    target = import_dataset(FIXTURES / name)
    dataset = load_dataset(target)
    assert (dataset.shape, len(dataset.rows)) == (shape, rows)
    if shape != "text":
        assert all(to_messages(row, shape) for row in dataset.rows)


def test_feedback_files_in_every_format(tmp_path, monkeypatch):
    """TRL's unpaired rows, LLaMA-Factory's KTO rows and a spreadsheet's TRUE / false labels all import as feedback."""
    from tests.conftest import FEEDBACK_ROWS

    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path / "workspace"))
    assert load_dataset(write_jsonl(tmp_path / "kto.jsonl", FEEDBACK_ROWS)).shape == "feedback"
    assert load_dataset(write_file(tmp_path / "kto.json", json.dumps(FEEDBACK_ROWS[2:4]))).shape == "feedback"
    spreadsheet = write_file(tmp_path / "kto.csv", 'prompt,completion,label\nSay hi,Hi!,TRUE\n"Say hi","Go away.",false\n')
    dataset = load_dataset(spreadsheet)
    assert dataset.shape == "feedback" and [row["label"] for row in dataset.rows] == [True, False]
    with pytest.raises(DatasetError, match="row 2, field 'label': must be true"):
        load_dataset(write_jsonl(tmp_path / "bad.jsonl", [FEEDBACK_ROWS[0], {**FEEDBACK_ROWS[0], "label": "yes"}]))
    report = check_file(write_jsonl(tmp_path / "check.jsonl", FEEDBACK_ROWS))
    assert report["ok"] and report["shape"] == "feedback" and report["rows"] == 5
