"""Tests for studio.data: reading, shape detection, validation, import and splits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio import data
from studio.tokens import render_example
from studio.data import (
    DatasetError,
    check_file,
    detect_shape,
    import_dataset,
    load_dataset,
    preference_parts,
    read_rows,
    split_rows,
    to_messages,
    validate,
)

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "llamafactory"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"LLaMA-Factory fixtures not found at {FIXTURES}")

INSTRUCTION_ROWS = [
    {"instruction": "What is the capital of France?", "input": "", "output": "Paris."},
    {"instruction": "Translate", "input": "hello", "output": "bonjour"},
]
CHAT_ROW = {"messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Bye"},
    {"role": "assistant", "content": "Goodbye!"},
]}
TOOL_ROW = {
    "conversations": [
        {"from": "human", "value": "Weather in Oslo?"},
        {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Oslo"}}'},
        {"from": "observation", "value": '{"temperature": 3}'},
        {"from": "gpt", "value": "It is 3 degrees in Oslo."},
    ],
    "tools": '[{"name": "weather"}]',
}
PREFERENCE_ROW = {"prompt": "Say hi", "chosen": "Hi there!", "rejected": "Go away."}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(rows) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def trained_text(tokenizer, example) -> str:
    return tokenizer.decode([label for label in example["labels"] if label != -100])


# ------------------------------------------------------------------------------- reading


def test_read_jsonl_json_and_wrapped_json(tmp_path):
    assert read_rows(write(tmp_path / "a.jsonl", jsonl(INSTRUCTION_ROWS) + "\n")) == INSTRUCTION_ROWS
    assert read_rows(write(tmp_path / "b.json", json.dumps(INSTRUCTION_ROWS))) == INSTRUCTION_ROWS
    assert read_rows(write(tmp_path / "c.json", json.dumps({"data": [CHAT_ROW]}))) == [CHAT_ROW]
    assert read_rows(write(tmp_path / "d.json", json.dumps(PREFERENCE_ROW))) == [PREFERENCE_ROW]
    assert read_rows(write(tmp_path / "e.json", jsonl([PREFERENCE_ROW, PREFERENCE_ROW]))) == [PREFERENCE_ROW] * 2


def test_read_csv_parses_json_cells(tmp_path):
    text = 'instruction,input,output\n"Say ""hi""",,hello\n'
    assert read_rows(write(tmp_path / "i.csv", text)) == [{"instruction": 'Say "hi"', "input": "", "output": "hello"}]
    cell = json.dumps(CHAT_ROW["messages"]).replace('"', '""')  # CSV doubles quotes inside a quoted cell
    chat = read_rows(write(tmp_path / "c.csv", f'messages\n"{cell}"\n'))
    assert chat == [CHAT_ROW] and detect_shape(chat) == "chat"
    preference = read_rows(write(tmp_path / "p.csv", "prompt,chosen,rejected\nSay hi,Hi there!,Go away.\n"))
    assert preference == [PREFERENCE_ROW] and detect_shape(preference) == "preference"


def test_read_csv_with_bom_and_too_many_cells(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufefftext\nhello world\n".encode("utf-8"))
    assert read_rows(path) == [{"text": "hello world"}]
    with pytest.raises(DatasetError, match="row 2: has more cells"):
        read_rows(write(tmp_path / "bad.csv", "text\nfine\ntoo,many\n"))


def test_read_txt_paragraphs_join_short_ones(tmp_path):
    body = "A paragraph that is long enough to stand on its own as one training example for the model."
    rows = read_rows(write(tmp_path / "a.txt", f"Chapter 1\n\n{body}\n\n\n{body}\nsecond line\n"))
    assert rows == [{"text": f"Chapter 1\n\n{body}"}, {"text": f"{body}\nsecond line"}]


def test_read_txt_one_paragraph_per_line(tmp_path):
    rows = read_rows(write(tmp_path / "wiki.txt", "First article.\nSecond article.\n\n"))
    assert rows == [{"text": "First article."}, {"text": "Second article."}]


def test_read_rejects_bad_files(tmp_path):
    with pytest.raises(DatasetError, match="row 2: is not valid JSON") as caught:
        read_rows(write(tmp_path / "a.jsonl", '{"text": "ok"}\n{"text": oops}\n[1, 2]\n'))
    assert [problem.row for problem in caught.value.problems] == [2, 3]
    assert "a.jsonl" in str(caught.value)
    with pytest.raises(DatasetError, match="is empty"):
        read_rows(write(tmp_path / "empty.jsonl", "\n  \n"))
    with pytest.raises(DatasetError, match="not supported"):
        read_rows(write(tmp_path / "sheet.xlsx", "x"))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\u00e9\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="not UTF-8 text"):
        read_rows(latin)
    with pytest.raises(FileNotFoundError):
        read_rows(tmp_path / "missing.jsonl")


# --------------------------------------------------------------------- shapes and validation


@pytest.mark.parametrize("row, shape", [
    (INSTRUCTION_ROWS[0], "instruction"),
    (CHAT_ROW, "chat"),
    (TOOL_ROW, "chat"),
    ({"text": "raw"}, "text"),
    (PREFERENCE_ROW, "preference"),
    ({"conversations": TOOL_ROW["conversations"][:1], "chosen": "a", "rejected": "b"}, "preference"),
])
def test_detect_shape(row, shape):
    assert detect_shape([row]) == shape
    assert validate([row], shape) == []


def test_detect_shape_unknown_names_keys_and_shapes():
    with pytest.raises(DatasetError, match=r"answer, question.*instruction.*chat.*text.*preference"):
        detect_shape([{"question": "q", "answer": "a"}])


def test_validate_reports_every_problem_with_row_and_field():
    rows = [{"instruction": "q", "input": ""}, {"instruction": "q", "output": "  "}, {"instruction": 3, "output": "a"}]
    problems = [str(problem) for problem in validate(rows, "instruction")]
    assert problems == [
        "row 1, field 'output': is missing; write the answer the model should learn",
        "row 2, field 'output': is empty; write the answer the model should learn",
        "row 3, field 'instruction': must be text, not a number",
    ]
    mixed = [CHAT_ROW, INSTRUCTION_ROWS[0], INSTRUCTION_ROWS[1]]
    assert [str(p) for p in validate(mixed, detect_shape(mixed))] == [
        "row 1: looks like chat data, but this dataset holds instruction examples; keep one shape per file"]
    assert [str(p) for p in validate([{"text": ""}], "text")] == ["row 1, field 'text': is empty; add the text or remove the row"]


def test_validate_chat_roles_and_order():
    def problems(turns):
        return [str(problem) for problem in validate([{"messages": turns}], "chat")]

    user, assistant = {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}
    assert problems([user, user, assistant])[0].startswith("row 1, field 'messages[1].role': a user turn cannot follow")
    assert "must end with an assistant turn" in problems([user, assistant, user])[0]
    assert "has no assistant turn" in problems([user])[0]
    assert "not a known role" in problems([{"role": "robot", "content": "x"}, assistant])[0]
    assert "field 'messages[1].content': is empty" in problems([user, {"role": "assistant", "content": ""}])[0]
    assert "can only come first" in problems([user, {"role": "system", "content": "s"}, assistant])[0]
    assert "must be a list" in problems("hello")[0]
    tool = {"role": "tool", "content": "{}"}
    assert problems([user, assistant, tool, assistant]) == []


def test_validate_preference():
    rows = [{"prompt": "p", "chosen": "same", "rejected": "same"}, {"prompt": "p", "chosen": "a"},
            {"chosen": "a", "rejected": "b"}, {"prompt": "p", "chosen": 5, "rejected": "b"}]
    problems = [str(problem) for problem in validate(rows, "preference")]
    assert problems[0].startswith("row 1, field 'rejected': is the same as 'chosen'")
    assert problems[1].startswith("row 2, field 'rejected': is missing")
    assert problems[2].startswith("row 3, field 'prompt': is missing")
    assert problems[3].startswith("row 4, field 'chosen': must be text or a message")


def test_dataset_error_lists_first_twenty():
    error = DatasetError([data.Problem(row, "text", "is empty") for row in range(1, 26)], "big.jsonl")
    text = str(error)
    assert text.startswith("big.jsonl has 25 problem(s)") and "row 20, field 'text'" in text
    assert "row 21," not in text and text.endswith("... and 5 more")
    assert isinstance(error, ValueError)


# ------------------------------------------------------------------- load, import and split


def test_load_and_import_are_all_or_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path / "workspace"))
    bad = write(tmp_path / "bad.jsonl", jsonl(INSTRUCTION_ROWS + [{"instruction": "q", "output": ""}]))
    with pytest.raises(DatasetError, match="row 3, field 'output'"):
        load_dataset(bad)
    with pytest.raises(DatasetError):
        import_dataset(bad, name="mine")
    assert not (tmp_path / "workspace" / "datasets" / "mine.jsonl").exists()

    good = write(tmp_path / "good.json", json.dumps(INSTRUCTION_ROWS))
    target = import_dataset(good, name="../My data")
    assert target == tmp_path / "workspace" / "datasets" / "My-data.jsonl"
    assert [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()] == INSTRUCTION_ROWS
    import_dataset(good, name="My data")
    assert target.with_name("My-data.jsonl.prev").exists()
    assert load_dataset(target).shape == "instruction"


def test_placeholders_stay_literal(tmp_path, monkeypatch, tiny_tokenizer):
    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path))
    row = {"instruction": "Who are you?", "input": "", "output": "I am {{name}}, made by {{author}}."}
    target = import_dataset(write(tmp_path / "identity.jsonl", jsonl([row])))
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


# --------------------------------------------------------------------------- to messages


def test_to_messages_instruction_with_system_and_history():
    row = {"instruction": "Translate", "input": "hello", "output": "bonjour", "system": "You translate.",
           "history": [["Hi", "Hello"]]}
    assert to_messages(row, "instruction") == [
        {"role": "system", "content": "You translate."},
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Translate\n\nhello"}, {"role": "assistant", "content": "bonjour"},
    ]
    assert to_messages(INSTRUCTION_ROWS[0], "instruction")[0] == {"role": "user", "content": "What is the capital of France?"}


def test_to_messages_sharegpt_tools():
    messages = to_messages(TOOL_ROW, "chat")
    assert [message["role"] for message in messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert messages[0]["content"] == 'You can call these tools:\n[{"name": "weather"}]'
    assert to_messages({**TOOL_ROW, "tools": "[]"}, "chat")[0]["role"] == "user"


def test_preference_parts_accepts_message_objects():
    row = {"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Q"}],
           "chosen": {"from": "gpt", "value": "good"}, "rejected": {"role": "assistant", "content": "bad"}}
    prompt, chosen, rejected = preference_parts(row)
    assert prompt == [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
    assert (chosen, rejected) == ("good", "bad")
    assert preference_parts({"instruction": "I", "input": "X", "chosen": "a", "rejected": "b"})[0] == [
        {"role": "user", "content": "I\n\nX"}]




def test_check_file_report(tmp_path, tiny_tokenizer):
    good = write(tmp_path / "good.jsonl", jsonl(INSTRUCTION_ROWS))
    report = check_file(good)
    assert report == {"file": str(good), "shape": "instruction", "rows": 2, "problems": [], "ok": True, "warnings": []}
    report = check_file(good, tokenizer=tiny_tokenizer, cutoff_length=5)
    assert set(report["tokens"]) == {"min", "mean", "max", "p95"}
    assert report["tokens"]["min"] <= report["tokens"]["mean"] <= report["tokens"]["max"] == report["tokens"]["p95"]
    assert report["over_cutoff"] == 2
    bad = check_file(write(tmp_path / "bad.jsonl", '{"text": ""}\nnot json\n'))
    assert bad["ok"] is False and bad["problems"][1] == "row 2: is not valid JSON (Expecting value at column 1)"
    assert bad["problems"][0].startswith("row 1, field 'text'")  # the broken line hides no other problem
    bad = check_file(write(tmp_path / "empty_text.jsonl", '{"text": ""}\n{"text": "fine"}\n'), tiny_tokenizer, 100)
    assert bad["ok"] is False and bad["shape"] == "text" and bad["tokens"]["min"] > 0
    with pytest.raises(FileNotFoundError):
        check_file(tmp_path / "missing.jsonl")


# ----------------------------------------------------------------- LLaMA-Factory fixtures


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


def test_placeholders_left_in_the_data_are_named_with_their_rows(tmp_path):
    from studio.data import check_file, placeholder_warning, placeholders

    rows = [{"instruction": "Who are you?", "input": "", "output": "I am {{name}}, made by {{ author }}."},
            {"instruction": "Hi", "input": "", "output": "Hello, I am {{name}}."},
            {"instruction": "2+2?", "input": "", "output": "4"}]
    assert placeholders(rows) == {"{{name}}": [1, 2], "{{ author }}": [1]}
    assert "{{name}} (2 rows)" in placeholder_warning(rows) and placeholder_warning(rows[2:]) == ""
    path = tmp_path / "identity.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    report = check_file(path)
    assert report["ok"] and "{{name}}" in report["warnings"][0]


def test_a_broken_line_does_not_hide_the_other_rows_problems(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": ""}\n{broken\n'
                    '{"instruction": "", "output": "d"}\n')
    with pytest.raises(DatasetError) as caught:
        read_rows(path)
    where = [(problem.row, problem.field) for problem in caught.value.problems]
    assert where == [(2, "output"), (3, None), (4, "instruction")]


def test_question_and_answer_columns_read_as_instruction_rows(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text("question,answer,category\nWhat is LoRA?,Low-rank adapters.,ml\nWhat is 2+2?,4,math\n")
    rows = read_rows(path)
    assert rows[0] == {"instruction": "What is LoRA?", "input": "", "output": "Low-rank adapters.", "category": "ml"}
    assert detect_shape(rows) == "instruction" and not validate(rows, "instruction")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"prompt": "Say hi", "completion": "Hi"}\n')
    assert read_rows(pairs) == [{"instruction": "Say hi", "input": "", "output": "Hi"}]
