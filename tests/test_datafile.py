"""Tests for studio.datafile: reading .jsonl, .json, .csv and .txt files into rows, and refusing bad ones."""

from __future__ import annotations

import json

import pytest

from studio.datafile import read_rows
from studio.shapes import DatasetError, detect_shape, validate
from tests.conftest import CHAT_ROW, INSTRUCTION_ROWS, PREFERENCE_ROW, write_file, write_jsonl


def test_read_jsonl_json_and_wrapped_json(tmp_path):
    lines = "".join(json.dumps(row) + "\n" for row in INSTRUCTION_ROWS) + "\n"  # a blank last line is skipped
    assert read_rows(write_file(tmp_path / "a.jsonl", lines)) == INSTRUCTION_ROWS
    assert read_rows(write_file(tmp_path / "b.json", json.dumps(INSTRUCTION_ROWS))) == INSTRUCTION_ROWS
    assert read_rows(write_file(tmp_path / "c.json", json.dumps({"data": [CHAT_ROW]}))) == [CHAT_ROW]
    assert read_rows(write_file(tmp_path / "d.json", json.dumps(PREFERENCE_ROW))) == [PREFERENCE_ROW]
    assert read_rows(write_jsonl(tmp_path / "e.json", [PREFERENCE_ROW, PREFERENCE_ROW])) == [PREFERENCE_ROW] * 2


def test_read_csv_parses_json_cells(tmp_path):
    text = 'instruction,input,output\n"Say ""hi""",,hello\n'
    assert read_rows(write_file(tmp_path / "i.csv", text)) == [{"instruction": 'Say "hi"', "input": "", "output": "hello"}]
    cell = json.dumps(CHAT_ROW["messages"]).replace('"', '""')  # CSV doubles quotes inside a quoted cell
    chat = read_rows(write_file(tmp_path / "c.csv", f'messages\n"{cell}"\n'))
    assert chat == [CHAT_ROW] and detect_shape(chat) == "chat"
    preference = read_rows(write_file(tmp_path / "p.csv", "prompt,chosen,rejected\nSay hi,Hi there!,Go away.\n"))
    assert preference == [PREFERENCE_ROW] and detect_shape(preference) == "preference"


def test_read_csv_with_bom_and_too_many_cells(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufefftext\nhello world\n".encode("utf-8"))
    assert read_rows(path) == [{"text": "hello world"}]
    with pytest.raises(DatasetError, match="row 2: has more cells"):
        read_rows(write_file(tmp_path / "bad.csv", "text\nfine\ntoo,many\n"))


def test_read_txt_paragraphs_join_short_ones(tmp_path):
    body = "A paragraph that is long enough to stand on its own as one training example for the model."
    rows = read_rows(write_file(tmp_path / "a.txt", f"Chapter 1\n\n{body}\n\n\n{body}\nsecond line\n"))
    assert rows == [{"text": f"Chapter 1\n\n{body}"}, {"text": f"{body}\nsecond line"}]


def test_read_txt_one_paragraph_per_line(tmp_path):
    rows = read_rows(write_file(tmp_path / "wiki.txt", "First article.\nSecond article.\n\n"))
    assert rows == [{"text": "First article."}, {"text": "Second article."}]


def test_read_rejects_bad_files(tmp_path):
    with pytest.raises(DatasetError, match="row 2: is not valid JSON") as caught:
        read_rows(write_file(tmp_path / "a.jsonl", '{"text": "ok"}\n{"text": oops}\n[1, 2]\n'))
    assert [problem.row for problem in caught.value.problems] == [2, 3]
    assert "a.jsonl" in str(caught.value)
    with pytest.raises(DatasetError, match="is empty"):
        read_rows(write_file(tmp_path / "empty.jsonl", "\n  \n"))
    with pytest.raises(DatasetError, match="not supported"):
        read_rows(write_file(tmp_path / "sheet.xlsx", "x"))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\u00e9\n".encode("latin-1"))
    with pytest.raises(DatasetError, match="not UTF-8 text"):
        read_rows(latin)
    with pytest.raises(FileNotFoundError):
        read_rows(tmp_path / "missing.jsonl")


def test_values_that_cannot_be_written_back_are_refused_on_their_own_line_with_the_reason(tmp_path):
    """NaN and infinities are caught as they parse; half characters and deep nesting by writing the value back."""
    lines = ['{"text": "fine", "score": 0.5}', '{"text": NaN}', '{"text": "a", "score": -Infinity}',
             '{"text": "a", "x": 1e999}', '{"text": "half \\ud800 a character"}', '{"text": "\\u00e9 whole"}',
             '{"text": ' + "[" * 3000 + "]" * 3000 + "}", '{"text": "a", "n": ' + "9" * 5000 + "}",
             '{"text": "deep", "x": ' + "[" * 150 + "]" * 150 + "}"]
    with pytest.raises(DatasetError) as caught:
        read_rows(write_file(tmp_path / "odd.jsonl", "\n".join(lines) + "\n"))
    reasons = {problem.row: problem.message for problem in caught.value.problems}
    assert sorted(reasons) == [2, 3, 4, 5, 7, 8]
    assert all("NaN or Infinity" in reasons[row] for row in (2, 3, 4))
    assert "half of a character" in reasons[5] and "nested too deeply" in reasons[7] and "thousands of digits" in reasons[8]
    assert read_rows(write_file(tmp_path / "ok.jsonl", "\n".join(lines[i] for i in (0, 5, 8))))[1] == {"text": "é whole"}
    with pytest.raises(DatasetError, match="NaN or Infinity"):
        read_rows(write_file(tmp_path / "odd.json", '[{"text": "a", "score": NaN}]'))
    # A CSV cell that is not JSON a dataset can hold stays the text it was.
    assert read_rows(write_file(tmp_path / "odd.csv", 'messages\n"[1e999]"\n')) == [{"messages": "[1e999]"}]


# --------------------------------------------------------------------- shapes and validation


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
