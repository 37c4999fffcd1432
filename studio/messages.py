"""Dataset rows as chat messages [{"role", "content"}]: what a chat template renders and training learns.

Every shape but text becomes one conversation: an instruction row's history, request and answer;
a chat row's turns with sharegpt names mapped to OpenAI roles; a preference row's prompt and its
two answers; a feedback row's prompt, its one answer and the label saying whether it is good. A row's
`system` and `tools` fold into one leading system message.
"""

from __future__ import annotations

import json

from studio.shapes import ROLE_NAMES, answer_text, response_text, turn_keys, turns_key


def _normalise_turns(turns: list[dict]) -> list[dict]:
    messages = []
    for message in turns:
        role_key, content_key = turn_keys(message)
        messages.append({"role": ROLE_NAMES[message[role_key]], "content": message[content_key]})
    return messages


def _instruction_messages(row: dict) -> list[dict]:
    """History pairs, then the user turn: instruction and input joined by a blank line."""
    messages = []
    for user, assistant in row.get("history") or []:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    parts = [row.get("instruction") or "", row.get("input") or ""]
    messages.append({"role": "user", "content": "\n\n".join(part for part in parts if part.strip())})
    return messages


def _with_system(row: dict, messages: list[dict]) -> list[dict]:
    """Fold the row's `system` key and `tools` into one leading system message."""
    parts = [row.get("system") or ""]
    if messages and messages[0]["role"] == "system":
        parts.append(messages[0]["content"])
        messages = messages[1:]
    tools = row.get("tools")
    if isinstance(tools, str) and tools.strip() not in ("", "[]", "{}"):
        parts.append("You can call these tools:\n" + tools)
    elif isinstance(tools, (list, dict)) and tools:
        parts.append("You can call these tools:\n" + json.dumps(tools, ensure_ascii=False))
    system = "\n\n".join(part for part in parts if part.strip())
    return ([{"role": "system", "content": system}] if system else []) + messages


def to_messages(row: dict, shape: str) -> list[dict]:
    """A row as chat messages [{"role", "content"}]; for preference rows, the prompt only; for feedback rows,
    the prompt and the answer, good or bad."""
    if shape == "instruction":
        return _with_system(row, _instruction_messages(row) + [{"role": "assistant", "content": row["output"]}])
    if shape == "chat":
        return _with_system(row, _normalise_turns(row[turns_key(row)]))
    if shape == "preference":
        return preference_parts(row)[0]
    if shape == "feedback":
        prompt, answer, _ = feedback_parts(row)
        return prompt + [{"role": "assistant", "content": answer}]
    raise ValueError(f"'{shape}' rows have no conversation turns; only instruction, chat, preference and feedback "
                     "rows do.")


def preference_parts(row: dict) -> tuple[list[dict], str, str]:
    """(prompt messages, chosen answer, rejected answer) of a preference row."""
    prompt = row.get("prompt")
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, list):
        messages = _normalise_turns(prompt)
    elif "messages" in row or "conversations" in row:
        messages = _normalise_turns(row[turns_key(row)])
    else:
        messages = _instruction_messages(row)
    return _with_system(row, messages), response_text(row["chosen"]), response_text(row["rejected"])


def feedback_parts(row: dict) -> tuple[list[dict], str, bool]:
    """(prompt messages, answer, label) of a feedback row: TRL's prompt and completion, a conversation's turns
    before its last (the answer), or an alpaca row's instruction and output; label True = a good answer."""
    if "completion" in row or ("prompt" in row and not row.keys() & {"messages", "conversations"}):
        prompt = row["prompt"]
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else _normalise_turns(prompt)
        answer = answer_text(row["completion"])
    elif "messages" in row or "conversations" in row:
        turns = _normalise_turns(row[turns_key(row)])
        messages, answer = turns[:-1], turns[-1]["content"]
    else:
        messages, answer = _instruction_messages(row), row["output"]
    return _with_system(row, messages), answer, row["label"]


def training_messages(row: dict, shape: str) -> list[dict]:
    """The conversation SFT learns from; for a preference pair, the prompt and the chosen answer."""
    if shape == "preference":
        prompt, chosen, _ = preference_parts(row)
        return prompt + [{"role": "assistant", "content": chosen}]
    return to_messages(row, shape)
