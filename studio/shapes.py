"""Dataset shapes: which of the five shapes a row has, and every problem a row of a shape can have.

instruction (alpaca), chat (OpenAI `messages` or sharegpt `conversations`), text (raw text for
pre-training), preference (DPO pairs) and feedback (one answer marked good or bad, for KTO: TRL's
prompt/completion/label, LLaMA-Factory's messages + label, or alpaca rows with a label); see
docs/design.md. `validate` lists problems by row and field, so a file with any problem can be refused
with all of them at once.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

SHAPES = ("instruction", "chat", "text", "preference", "feedback")
# Keys that, beside a true/false `label`, make a row a feedback row: a prompt and its answer in any accepted form.
FEEDBACK_KEYS = {"prompt", "completion", "messages", "conversations", "instruction", "output"}
MAX_LISTED_PROBLEMS = 20

# sharegpt `from` names and OpenAI roles, mapped to the roles chat templates know.
ROLE_NAMES = {
    "system": "system", "user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant",
    "function_call": "assistant", "tool": "tool", "observation": "tool",
}
# Which role may come next: user and tool turns alternate with assistant turns.
NEXT_ROLES = {
    "start": ("user",), "user": ("assistant",), "assistant": ("user", "tool"), "tool": ("assistant", "tool"),
}
FIELD_HINTS = {
    "instruction": "write the request or question",
    "output": "write the answer the model should learn",
    "text": "add the text or remove the row",
    "chosen": "write the preferred answer",
    "rejected": "write the worse answer",
    "completion": "write the answer that is marked good or bad",
    "label": "write true (a good answer) or false (a bad one)",
}


@dataclass
class Problem:
    """One thing wrong with a dataset; `row` counts examples from 1, None for the whole file."""

    row: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class DatasetError(ValueError):
    """A dataset that cannot be used; `.problems` lists every reason."""

    def __init__(self, problems: list[Problem], source: str = ""):
        self.problems = list(problems)
        self.source = source
        super().__init__(self.problems)

    def __str__(self) -> str:
        if len(self.problems) == 1 and self.problems[0].row is None:
            return f"{self.source}: {self.problems[0]}" if self.source else str(self.problems[0])
        lines = [f"{self.source or 'The dataset'} has {len(self.problems)} problem(s); fix them and try again:"]
        lines += [f"  {problem}" for problem in self.problems[:MAX_LISTED_PROBLEMS]]
        if len(self.problems) > MAX_LISTED_PROBLEMS:
            lines.append(f"  ... and {len(self.problems) - MAX_LISTED_PROBLEMS} more")
        return "\n".join(lines)


class MissingFileError(DatasetError, FileNotFoundError):
    """The dataset file does not exist; both a ValueError (for the UI) and a FileNotFoundError."""


def file_problem(message: str, source: str = "") -> DatasetError:
    """An error about the whole file rather than one row."""
    return DatasetError([Problem(None, None, message)], source)


def kind(value) -> str:
    """How a JSON value reads to a person, for 'must be text, not a number'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "text"


# ---------------------------------------------------------------------------------- shapes


def row_shape(row: dict) -> str | None:
    """The shape this row's keys say it has; None when they say none."""
    keys = set(row)
    if keys & {"chosen", "rejected"}:
        return "preference"
    if isinstance(row.get("label"), bool) and keys & FEEDBACK_KEYS:  # not a class name such as "positive"
        return "feedback"
    if keys & {"messages", "conversations"}:
        return "chat"
    if keys & {"instruction", "output"}:
        return "instruction"
    return "text" if "text" in keys else None


def detect_shape(rows: list[dict]) -> str:
    """The shape most rows have; rows of another shape are then reported by `validate`."""
    counts = Counter(shape for shape in map(row_shape, (r for r in rows if isinstance(r, dict))) if shape)
    if not counts:
        keys = sorted({key for row in rows if isinstance(row, dict) for key in row})
        listed = ", ".join(keys[:12]) + (", ..." if len(keys) > 12 else "")
        raise file_problem(
            f"Cannot tell the dataset's shape from its keys ({listed or 'none'}). Expected "
            "instruction {instruction, input, output}, chat {messages} or {conversations}, text {text}, "
            "preference {prompt, chosen, rejected} or feedback {prompt, completion, label}; rename the columns "
            "and try again.")
    return max(counts, key=lambda shape: (counts[shape], -SHAPES.index(shape)))


# ------------------------------------------------------------------------------ validation


def validate(rows: list[dict], shape: str) -> list[Problem]:
    """Every problem in the rows for this shape; an empty list means the data is usable."""
    checkers = {"instruction": _check_instruction, "chat": _check_chat,
                "text": _check_text_row, "preference": _check_preference, "feedback": _check_feedback}
    if shape not in checkers:
        raise file_problem(f"Unknown dataset shape '{shape}'; use one of {', '.join(SHAPES)}.")
    problems = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            problems.append(Problem(number, None, f"is {kind(row)}, not an object {{...}}"))
        elif not _fits(row, shape):  # one clear message instead of every missing key
            problems.append(Problem(number, None, f"looks like {row_shape(row)} data, but this dataset "
                                                  f"holds {shape} examples; keep one shape per file"))
        else:
            problems += checkers[shape](row, number)
    return problems


def _fits(row: dict, shape: str) -> bool:
    """Whether a row's keys leave it to this shape's checker; a feedback row without its label reads as chat or
    instruction, and is better told that the label is missing."""
    found = row_shape(row)
    return found in (None, shape) or (shape == "feedback" and found in ("chat", "instruction"))


def _check_text(row: dict, key: str, number: int, required=True, allow_empty=False) -> list[Problem]:
    if key not in row:
        hint = FIELD_HINTS.get(key)
        return [Problem(number, key, f"is missing; {hint}" if hint else "is missing")] if required else []
    value = row[key]
    if not isinstance(value, str):
        return [Problem(number, key, f"must be text, not {kind(value)}")]
    if not allow_empty and not value.strip():
        hint = FIELD_HINTS.get(key)
        return [Problem(number, key, f"is empty; {hint}" if hint else "is empty")]
    return []


def _check_text_row(row: dict, number: int) -> list[Problem]:
    return _check_text(row, "text", number)


def _check_instruction(row: dict, number: int) -> list[Problem]:
    problems = _check_instruction_prompt(row, number) + _check_text(row, "output", number)
    return problems + _check_system_and_tools(row, number)


def _check_instruction_prompt(row: dict, number: int) -> list[Problem]:
    """The prompt is instruction + input; either may be empty, not both."""
    problems = _check_text(row, "input", number, required=False, allow_empty=True)
    problems += _check_text(row, "instruction", number, allow_empty=True)
    has_input = isinstance(row.get("input"), str) and row["input"].strip()
    if not problems and not row["instruction"].strip() and not has_input:
        problems.append(Problem(number, "instruction", f"is empty; {FIELD_HINTS['instruction']}"))
    history = row.get("history")
    if history is not None and not isinstance(history, list):
        problems.append(Problem(number, "history", f"must be a list of [user, assistant] pairs, not {kind(history)}"))
    for index, pair in enumerate(history if isinstance(history, list) else []):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)):
            problems.append(Problem(number, f"history[{index}]", "must be a [user text, assistant text] pair"))
    return problems


def _check_system_and_tools(row: dict, number: int) -> list[Problem]:
    problems = _check_text(row, "system", number, required=False, allow_empty=True)
    tools = row.get("tools")
    if tools is not None and not isinstance(tools, (str, list, dict)):
        problems.append(Problem(number, "tools", f"must be text or JSON tool definitions, not {kind(tools)}"))
    return problems


def _check_chat(row: dict, number: int) -> list[Problem]:
    key = turns_key(row)
    return _check_turns(row[key], key, number, prompt_only=False) + _check_system_and_tools(row, number)


def turns_key(row: dict) -> str:
    """The key holding a chat row's turns: OpenAI `messages` or sharegpt `conversations`."""
    return "messages" if "messages" in row else "conversations"


def turn_keys(message: dict) -> tuple[str, str]:
    """OpenAI messages use role/content, sharegpt turns use from/value; accept either anywhere."""
    role_key = "from" if "from" in message and "role" not in message else "role"
    return role_key, ("value" if role_key == "from" else "content")


def _check_turns(turns, field: str, number: int, prompt_only: bool) -> list[Problem]:
    """Each message's role and content, then the order of the roles."""
    if not isinstance(turns, list):
        return [Problem(number, field, f"must be a list of messages, not {kind(turns)}")]
    if not turns:
        return [Problem(number, field, "has no messages")]
    problems, roles, names = [], [], []
    for index, message in enumerate(turns):
        where = f"{field}[{index}]"
        if not isinstance(message, dict):
            problems.append(Problem(number, where, f'must be an object like {{"role": ..., "content": ...}}, '
                                                   f"not {kind(message)}"))
            roles.append(None)
            continue
        role_key, content_key = turn_keys(message)
        raw_role = message.get(role_key)
        role = ROLE_NAMES.get(raw_role) if isinstance(raw_role, str) else None
        if role is None:
            problem = "is missing" if raw_role is None else f"{json.dumps(raw_role)} is not a known role"
            problems.append(Problem(number, f"{where}.{role_key}", f"{problem}; use one of {', '.join(ROLE_NAMES)}"))
        content = message.get(content_key)
        if not isinstance(content, str):
            problems.append(Problem(number, f"{where}.{content_key}",
                                    "is missing" if content is None else f"must be text, not {kind(content)}"))
        elif not content.strip() and role != "system":
            problems.append(Problem(number, f"{where}.{content_key}", "is empty"))
        roles.append(role)
        names.append(f"{where}.{role_key}")
    if None in roles:  # the order of unreadable roles would only repeat the problems above
        return problems
    return problems + _check_order(roles, names, field, number, prompt_only)


def _check_order(roles: list[str], names: list[str], field: str, number: int, prompt_only: bool) -> list[Problem]:
    problems, previous = [], "start"
    for index, role in enumerate(roles):
        if role == "system":
            if index:
                problems.append(Problem(number, names[index], "a system message can only come first"))
            continue
        if role not in NEXT_ROLES[previous]:
            after = "the start" if previous == "start" else f"a {previous} turn"
            problems.append(Problem(number, names[index], f"a {role} turn cannot follow {after}; after the optional "
                                    "system message, user and assistant turns alternate (a tool result may "
                                    "follow an assistant turn)"))
        previous = role
    if prompt_only and previous not in ("user", "tool"):
        problems.append(Problem(number, field, "must end with a user turn: the question the answers reply to"))
    elif not prompt_only and "assistant" not in roles:
        problems.append(Problem(number, field, "has no assistant turn; add the reply the model should learn"))
    elif not prompt_only and previous != "assistant":
        problems.append(Problem(number, names[-1], "the conversation must end with an assistant turn (the reply "
                                                   "to learn); add the reply or remove the last turn"))
    return problems


def _check_preference(row: dict, number: int) -> list[Problem]:
    if isinstance(row.get("prompt"), list):
        problems = _check_turns(row["prompt"], "prompt", number, prompt_only=True)
    elif "prompt" in row:
        problems = _check_text(row, "prompt", number)
    elif "messages" in row or "conversations" in row:
        key = turns_key(row)
        problems = _check_turns(row[key], key, number, prompt_only=True)
    elif "instruction" in row:
        problems = _check_instruction_prompt(row, number)
    else:
        problems = [Problem(number, "prompt", "is missing; add a 'prompt' (or 'instruction', or 'conversations') "
                                              "with the question both answers reply to")]
    answers = {}
    for key in ("chosen", "rejected"):
        answer = response_text(row.get(key))
        if key not in row:
            problems.append(Problem(number, key, f"is missing; {FIELD_HINTS[key]}"))
        elif answer is None:
            problems.append(Problem(number, key, 'must be text or a message like {"role": "assistant", '
                                                 f'"content": ...}}, not {kind(row[key])}'))
        elif not answer.strip():
            problems.append(Problem(number, key, f"is empty; {FIELD_HINTS[key]}"))
        answers[key] = answer
    if answers["chosen"] and answers["chosen"].strip() == (answers["rejected"] or "").strip():
        problems.append(Problem(number, "rejected", "is the same as 'chosen'; a preference pair needs two "
                                                    "different answers"))
    return problems + _check_system_and_tools(row, number)


def response_text(value) -> str | None:
    """A preference answer's text, given as text or as a message object; None when it is neither."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        text = value.get("content", value.get("value"))
        return text if isinstance(text, str) else None
    return None


def answer_text(value) -> str | None:
    """A feedback answer's text: text, a message object, or a list of one message (TRL's conversational
    completion); None when it is none of these."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return response_text(value)


def _check_feedback(row: dict, number: int) -> list[Problem]:
    """A prompt, one answer and a label: TRL's prompt/completion, a conversation ending in the answer
    (LLaMA-Factory's KTO rows), or an alpaca row's instruction/input and output."""
    if "completion" in row or ("prompt" in row and not row.keys() & {"messages", "conversations"}):
        problems = _check_feedback_prompt(row, number) + _check_answer(row, "completion", number)
    elif "messages" in row or "conversations" in row:
        key = turns_key(row)
        problems = _check_turns(row[key], key, number, prompt_only=False)
    elif "instruction" in row or "output" in row:
        problems = _check_instruction_prompt(row, number) + _check_text(row, "output", number)
    else:
        problems = [Problem(number, "prompt", "is missing; add a 'prompt' and a 'completion' (or 'messages' "
                                              "ending in the answer) with a 'label'")]
    label = row.get("label")
    if "label" not in row:
        problems.append(Problem(number, "label", f"is missing; {FIELD_HINTS['label']}"))
    elif not isinstance(label, bool):
        problems.append(Problem(number, "label", f"must be true (a good answer) or false (a bad one), not {kind(label)}"))
    return problems + _check_system_and_tools(row, number)


def _check_feedback_prompt(row: dict, number: int) -> list[Problem]:
    if isinstance(row.get("prompt"), list):
        return _check_turns(row["prompt"], "prompt", number, prompt_only=True)
    if "prompt" in row:
        return _check_text(row, "prompt", number)
    return [Problem(number, "prompt", "is missing; add the question the answer replies to")]


def _check_answer(row: dict, key: str, number: int) -> list[Problem]:
    if key not in row:
        return [Problem(number, key, f"is missing; {FIELD_HINTS[key]}")]
    answer = answer_text(row[key])
    if answer is None:
        return [Problem(number, key, 'must be text or a message like {"role": "assistant", '
                                     f'"content": ...}}, not {kind(row[key])}')]
    if not answer.strip():
        return [Problem(number, key, f"is empty; {FIELD_HINTS[key]}")]
    return []
