"""Tests for studio.table: rows as table cells and back, added and deleted rows, search, pages, row numbers, replace."""

from __future__ import annotations

import json

import pytest

from studio import table

ROWS = [
    {"instruction": "Who are you?", "input": "", "output": "I am {{name}}."},
    {"instruction": "Translate", "input": "hello", "output": "bonjour"},
    {"instruction": "Who are you?", "input": "", "output": "{{name}}, made by {{author}}."},
]
CHAT = [{"messages": [{"role": "user", "content": "Hi {{name}}"}, {"role": "assistant", "content": "Hello"}]}]


def records(rows, columns, numbers):
    return [dict(zip([table.NUMBER_COLUMN, *columns], cells)) for cells in table.table_rows(rows, columns, numbers)]


def test_columns_follow_the_shape_and_keep_every_key():
    assert table.table_columns(ROWS, "instruction") == ["instruction", "input", "output"]
    assert table.table_columns([{**ROWS[0], "system": "Be brief.", "id": 7}], "instruction")[3:] == ["system", "id"]
    assert table.table_columns([], "preference") == ["prompt", "chosen", "rejected"]
    assert table.table_columns([{"conversations": []}], "chat") == ["conversations"]
    assert table.table_columns([{"instruction": "q", "chosen": "a", "rejected": "b"}], "preference") == [
        "instruction", "chosen", "rejected"]


def test_cells_round_trip_and_edits_map_back_by_row_number():
    columns = table.table_columns(ROWS, "instruction")
    shown = records(ROWS, columns, [2, 3])  # a filtered view: rows 2 and 3 only
    assert table.apply_table(ROWS, "instruction", shown, [2, 3]) == (ROWS, 0)
    shown[1]["output"] = "Hi."
    rows, changed = table.apply_table(ROWS, "instruction", shown, [2, 3])
    assert changed == 1 and rows[2]["output"] == "Hi." and rows[:2] == ROWS[:2]
    assert ROWS[2]["output"].startswith("{{name}}")  # the original rows are never changed in place


def test_rows_added_or_deleted_in_the_table():
    columns = table.table_columns(ROWS, "instruction")
    shown = records(ROWS, columns, [1, 2, 3])
    del shown[1]
    shown.insert(1, {"#": float("nan"), "instruction": "New", "input": None, "output": "row"})  # below row 1
    shown.append({"#": "", "instruction": "", "input": "", "output": ""})  # an empty added row is not data yet
    rows, changed = table.apply_table(ROWS, "instruction", shown, [1, 2, 3])
    assert changed == 2
    assert rows == [ROWS[0], {"instruction": "New", "input": "", "output": "row"}, ROWS[2]]


def test_json_cells_parse_back_into_lists():
    columns = table.table_columns(CHAT, "chat")
    shown = records(CHAT, columns, [1])
    assert json.loads(shown[0]["messages"]) == CHAT[0]["messages"]
    shown[0]["messages"] = shown[0]["messages"].replace("Hello", "Hey")
    rows, changed = table.apply_table(CHAT, "chat", shown, [1])
    assert changed == 1 and rows[0]["messages"][1] == {"role": "assistant", "content": "Hey"}
    shown[0]["messages"] = '[{"role": "user", "content": "Hi"'
    rows, _ = table.apply_table(CHAT, "chat", shown, [1])
    assert rows[0]["messages"] == '[{"role": "user", "content": "Hi"'  # kept as typed, for the checks to name


def test_search_pages_and_row_numbers():
    assert table.matching_rows(ROWS, "WHO") == [1, 3]
    assert table.matching_rows(ROWS, "") == [1, 2, 3]
    assert table.page_of(list(range(1, 251)), 3, 100) == (list(range(201, 251)), 3)
    assert table.page_of(list(range(1, 11)), 9, 100) == (list(range(1, 11)), 1)
    assert table.parse_row_numbers("3, 5-7 7", 10) == [3, 5, 6, 7]
    with pytest.raises(ValueError, match="Row 11 does not exist"):
        table.parse_row_numbers("2, 9-11", 10)
    with pytest.raises(ValueError, match="'x' is not a row number"):
        table.parse_row_numbers("x", 10)
    assert table.delete_rows(ROWS, [1, 3]) == [ROWS[1]]


def test_replace_counts_cells_and_reaches_inside_json():
    rows, cells = table.replace_text(ROWS, "{{name}}", "Ada")
    assert cells == 2 and rows[2]["output"] == "Ada, made by {{author}}." and rows[1] is ROWS[1]
    assert table.replace_text(ROWS, "{{name}}", "Ada", ["instruction"])[1] == 0
    rows, cells = table.replace_text(CHAT, "{{name}}", "Ada")
    assert cells == 1 and rows[0]["messages"][0] == {"role": "user", "content": "Hi Ada"}
    with pytest.raises(ValueError, match="text to find"):
        table.replace_text(ROWS, "", "x")


def test_feedback_rows_edit_as_prompt_completion_and_a_true_false_label():
    rows = [{"prompt": "Say hi", "completion": "Hi!", "label": True}]
    assert table.table_columns(rows, "feedback") == ["prompt", "completion", "label"]
    assert table.table_columns([{"instruction": "q", "input": "", "output": "a", "label": True}], "feedback") == [
        "instruction", "input", "output", "label"]
    assert table.table_columns([{"messages": [], "label": False}], "feedback") == ["messages", "label"]
    columns = table.table_columns(rows, "feedback")
    shown = records(rows, columns, [1])
    assert shown[0]["label"] == "true"
    shown[0]["label"] = " False "
    shown.append({"#": None, "prompt": "Say bye", "completion": "Bye.", "label": "false"})
    edited, changed = table.apply_table(rows, "feedback", shown, [1])
    assert changed == 2 and edited == [{"prompt": "Say hi", "completion": "Hi!", "label": False},
                                       {"prompt": "Say bye", "completion": "Bye.", "label": False}]
    shown = [{"#": None, "prompt": "New", "completion": "row", "label": ""}]  # a new row is good unless marked bad
    assert table.apply_table([], "feedback", shown, [])[0] == [{"prompt": "New", "completion": "row", "label": True}]
    assert table.parse_cell("label", "maybe", True) == "maybe"  # kept as typed, for the checks to name
