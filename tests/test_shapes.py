"""Tests for studio.shapes: telling a dataset's shape, and every problem of its rows by row and field."""

from __future__ import annotations

import pytest

from studio.shapes import DatasetError, Problem, detect_shape, validate
from tests.conftest import CHAT_ROW, FEEDBACK_ROWS, INSTRUCTION_ROWS, PREFERENCE_ROW, TOOL_ROW


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
    error = DatasetError([Problem(row, "text", "is empty") for row in range(1, 26)], "big.jsonl")
    text = str(error)
    assert text.startswith("big.jsonl has 25 problem(s)") and "row 20, field 'text'" in text
    assert "row 21," not in text and text.endswith("... and 5 more")
    assert isinstance(error, ValueError)


# ------------------------------------------------------------------------------------ feedback (KTO)


@pytest.mark.parametrize("row", FEEDBACK_ROWS, ids=["trl-text", "trl-messages", "llamafactory-messages",
                                                    "llamafactory-sharegpt", "alpaca-label"])
def test_feedback_rows_in_every_form_people_bring(row):
    assert detect_shape([row]) == "feedback"
    assert validate([row], "feedback") == []


def test_a_label_that_names_a_class_is_no_feedback():
    assert detect_shape([{"text": "good food", "label": True}]) == "text"  # a classifier's data, not a prompt and answer
    assert detect_shape([{**INSTRUCTION_ROWS[0], "label": "positive"}]) == "instruction"
    assert detect_shape([PREFERENCE_ROW, FEEDBACK_ROWS[0], FEEDBACK_ROWS[2]]) == "feedback"


def test_validate_feedback_names_each_problem_by_row():
    rows = [FEEDBACK_ROWS[0], {"prompt": "q", "completion": "a", "label": "true"}, {"prompt": "q", "label": True},
            {"messages": [{"role": "user", "content": "q"}], "label": False}, {"prompt": "q", "completion": "a"},
            {**INSTRUCTION_ROWS[0]}, {"prompt": "q", "completion": "  ", "label": True},
            {"completion": "a", "label": False}, {"prompt": "q", "completion": 3, "label": True},
            {"prompt": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "completion": "b",
             "label": True}, {"prompt": "q", "completion": "a", "label": 1}]
    problems = [str(problem) for problem in validate(rows, detect_shape(rows))]
    assert problems == [
        "row 2, field 'label': must be true (a good answer) or false (a bad one), not text",
        "row 3, field 'completion': is missing; write the answer that is marked good or bad",
        "row 4, field 'messages': has no assistant turn; add the reply the model should learn",
        "row 5, field 'label': is missing; write true (a good answer) or false (a bad one)",
        "row 6, field 'label': is missing; write true (a good answer) or false (a bad one)",
        "row 7, field 'completion': is empty; write the answer that is marked good or bad",
        "row 8, field 'prompt': is missing; add the question the answer replies to",
        'row 9, field \'completion\': must be text or a message like {"role": "assistant", "content": ...}, '
        "not a number",
        "row 10, field 'prompt': must end with a user turn: the question the answers reply to",
        "row 11, field 'label': must be true (a good answer) or false (a bad one), not a number",
    ]
    assert validate([PREFERENCE_ROW], "feedback")[0].message.startswith("looks like preference data")
