"""Tests for studio.messages: rows of each shape as chat messages."""

from __future__ import annotations

from studio.messages import preference_parts, to_messages
from tests.conftest import INSTRUCTION_ROWS, TOOL_ROW


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
