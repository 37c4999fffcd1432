"""Tests for studio.messages: rows of each shape as chat messages."""

from __future__ import annotations

from studio.messages import feedback_parts, preference_parts, to_messages, training_messages
from tests.conftest import FEEDBACK_ROWS, INSTRUCTION_ROWS, TOOL_ROW


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


def test_feedback_parts_of_every_form():
    parts = [feedback_parts(row) for row in FEEDBACK_ROWS]
    hi = [{"role": "user", "content": "Say hi"}]
    assert parts[0] == (hi, "Hi there!", True)
    assert parts[1] == (hi, "Go away.", False)  # TRL's conversational completion: a list of one message
    assert parts[2] == ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], "Hello!", True)
    assert parts[3] == ([{"role": "user", "content": "Hi"}], "Whatever.", False)  # sharegpt names mapped
    assert parts[4] == ([{"role": "user", "content": "Translate\n\nhello"}], "bonjour", True)
    assert feedback_parts({**FEEDBACK_ROWS[0], "system": "S"})[0][0] == {"role": "system", "content": "S"}
    # As a conversation (what the model sees, the token counts, the probes), the answer follows the prompt.
    assert to_messages(FEEDBACK_ROWS[3], "feedback") == [{"role": "user", "content": "Hi"},
                                                         {"role": "assistant", "content": "Whatever."}]
    assert training_messages(FEEDBACK_ROWS[0], "feedback") == hi + [{"role": "assistant", "content": "Hi there!"}]
