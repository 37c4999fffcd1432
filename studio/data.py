"""Datasets: read the files people bring, check them, split them and tokenise them for training.

A dataset is a JSONL file under `<workspace>/datasets/`, one example per line, in one of four
shapes (see DESIGN.md): instruction (alpaca), chat (OpenAI `messages` or sharegpt
`conversations`), text (raw text for pre-training) and preference (DPO pairs). Imports accept
.jsonl, .json, .csv and .txt and are all-or-nothing: a file with any problem is refused with
every problem listed by row and field, and nothing is written.

Tokenising for training lives in `studio.tokens`.

    python -m studio data check my_data.jsonl
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from jinja2.exceptions import TemplateError

from studio.workspace import atomic_write_text, datasets_dir, safe_name

SHAPES = ("instruction", "chat", "text", "preference")
# Other names people give a question's and an answer's columns; read as instruction / output.
PROMPT_ALIASES = ("question", "prompt", "query", "input_text", "source")
ANSWER_ALIASES = ("answer", "response", "completion", "target", "output_text")
SUFFIXES = (".jsonl", ".json", ".csv", ".txt")
IGNORED_LABEL = -100  # the label value that PyTorch's cross-entropy skips
MAX_LISTED_PROBLEMS = 20
SHORT_PARAGRAPH_CHARS = 80  # headings and one-liners in .txt files are joined to what follows
# Python's csv refuses cells over 128 KiB; a long document in one cell is fine for pre-training.
CSV_CELL_LIMIT = 64 * 2**20
# Byte-order marks of the encodings Excel and Windows editors save as "Unicode"; UTF-32 first, as its
# little-endian mark starts with UTF-16's.
BYTE_ORDER_MARKS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))

# sharegpt `from` names and OpenAI roles, mapped to the roles chat templates know.
ROLE_NAMES = {
    "system": "system", "user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant",
    "function_call": "assistant", "tool": "tool", "observation": "tool",
}
# Which role may come next: user and tool turns alternate with assistant turns.
NEXT_ROLES = {
    "start": ("user",), "user": ("assistant",), "assistant": ("user", "tool"), "tool": ("assistant", "tool"),
}
# CSV cells in these columns may hold JSON (a list of messages, a message object).
STRUCTURED_COLUMNS = ("messages", "conversations", "history", "prompt", "chosen", "rejected")
KNOWN_KEYS = {"instruction", "input", "output", "system", "history", "messages", "conversations",
              "tools", "text", "prompt", "chosen", "rejected"}
FIELD_HINTS = {
    "instruction": "write the request or question",
    "output": "write the answer the model should learn",
    "text": "add the text or remove the row",
    "chosen": "write the preferred answer",
    "rejected": "write the worse answer",
}

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
NO_CHAT_TEMPLATE = (
    "The model has no chat template, which SFT on instruction/chat data needs. Use a chat (instruct) "
    "model, set chat_template: chatml, or use stage pretrain for raw text."
)


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


@dataclass
class Dataset:
    shape: str
    rows: list[dict]
    source: str = ""


def _file_problem(message: str, source: str = "") -> DatasetError:
    return DatasetError([Problem(None, None, message)], source)


def _kind(value) -> str:
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


# ---------------------------------------------------------------------------------- reading


def read_rows(path) -> list[dict]:
    """The examples in a .jsonl, .json, .csv or .txt file, as JSON objects."""
    path = _existing_file(path)
    readers = {".jsonl": _parse_jsonl, ".json": _parse_json, ".csv": _parse_csv, ".txt": _parse_txt}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise _file_problem(f"'{path.suffix or 'no extension'}' files are not supported; "
                            f"save it as {', '.join(SUFFIXES)} and try again.", path.name)
    text = _decode(path)
    if not text.strip():
        raise _file_problem("The file is empty; add examples and try again.", path.name)
    try:
        rows = reader(text)
    except DatasetError as error:
        error.source = path.name
        raise
    if not rows:
        raise _file_problem("The file holds no examples; add some and try again.", path.name)
    return with_known_columns(rows)


def with_known_columns(rows: list[dict]) -> list[dict]:
    """Rows whose columns are the common other names for a question and its answer (question/answer,
    prompt/response, query/completion, ...) read as instruction rows; rows of a known shape stay as they are."""
    if any(isinstance(row, dict) and _row_shape(row) for row in rows):
        return rows
    renamed = []
    for row in rows:
        if not isinstance(row, dict):
            return rows
        prompt = next((key for key in PROMPT_ALIASES if key in row), None)
        answer = next((key for key in ANSWER_ALIASES if key in row), None)
        if prompt is None or answer is None:
            return rows
        rest = {key: value for key, value in row.items() if key not in (prompt, answer)}
        renamed.append({"instruction": row[prompt], "input": rest.pop("input", ""), "output": row[answer], **rest})
    return renamed


PLACEHOLDER = re.compile(r"\{\{\s*[\w.-]+\s*\}\}")


def placeholders(rows: list[dict]) -> dict[str, list[int]]:
    """Template placeholders such as {{name}} left in the rows: each one with the numbers of the rows holding it.
    A model trained on them learns to say "{{name}}"; the Dataset tab's Find and replace fills them in."""
    found: dict[str, list[int]] = {}
    for number, row in enumerate(rows, 1):
        text = json.dumps(row, ensure_ascii=False)
        for placeholder in dict.fromkeys(PLACEHOLDER.findall(text)):
            found.setdefault(placeholder, []).append(number)
    return found


def placeholder_warning(rows: list[dict]) -> str:
    """One line a person reads, or "" when no row holds a placeholder."""
    found = placeholders(rows)
    if not found:
        return ""
    counted = ", ".join(f"{placeholder} ({len(numbers)} rows)" for placeholder, numbers in found.items())
    return (f"Placeholders left in the data: {counted}. Replace them (Find and replace) before training, "
            "or the model learns to say them.")


def _existing_file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise MissingFileError([Problem(None, None, f"File not found: {path}. Check the path and try again.")])
    return path


def _decode(path: Path) -> str:
    data = path.read_bytes()
    for mark, encoding in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                raise _file_problem(f"The file starts like {encoding.upper()} text but is not valid {encoding.upper()}. "
                                    "Save it with UTF-8 encoding and try again.", path.name) from None
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise _file_problem(f"The file holds NUL bytes (first on line {line}): it is a binary file, or UTF-16 text "
                            "without a byte-order mark. Save it as UTF-8 text and try again.", path.name)
    try:
        return data.decode("utf-8-sig")  # utf-8-sig also reads plain UTF-8, and drops Excel's BOM
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise _file_problem(f"The file is not UTF-8 text (bad byte on line {line}). Save it with UTF-8 "
                            "encoding (e.g. 'Save as... UTF-8' in your editor) and try again.", path.name)


class _Unreadable(ValueError):
    """JSON that json.loads takes (or chokes on without a JSONDecodeError) but a dataset cannot hold."""


def _loads(text: str):
    """json.loads, refusing what would crash later: deep nesting, giant numbers, NaN, half characters.

    Rows are written back as strict UTF-8 JSON, so a value that cannot be written is refused here,
    where its row number is known.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise _Unreadable("is nested too deeply to read") from None
    except ValueError:  # Python's limit on the digits of one integer
        raise _Unreadable("holds a number with thousands of digits; write it as text") from None
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False, check_circular=False).encode("utf-8")
    except UnicodeEncodeError:
        raise _Unreadable("holds half of a character (an unpaired \\ud800-\\udfff escape); fix or remove it") from None
    except ValueError:
        raise _Unreadable("holds NaN or Infinity, which JSON does not allow; write null or a number") from None
    except RecursionError:
        raise _Unreadable("is nested too deeply to read") from None
    return value


def _parse_jsonl(text: str) -> list[dict]:
    rows, problems = [], []
    # Only "\n" ends a line: splitlines() would also break at U+2028 or U+0085, which JSON text may hold.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            value = _loads(line)
        except json.JSONDecodeError as error:
            problems.append(Problem(number, None, f"is not valid JSON ({error.msg} at column {error.colno})"))
            continue
        except _Unreadable as error:
            problems.append(Problem(number, None, str(error)))
            continue
        if not isinstance(value, dict):
            problems.append(Problem(number, None, f"is {_kind(value)}, not a JSON object {{...}}"))
            continue
        rows.append((number, value))
    if problems:
        # The lines that do parse are checked too, so one broken line does not hide the file's other problems.
        raise DatasetError(sorted(problems + _problems_by_line(rows), key=lambda problem: problem.row or 0))
    return [row for _, row in rows]


def _problems_by_line(numbered: list[tuple[int, dict]]) -> list[Problem]:
    rows = [row for _, row in numbered]
    try:
        problems = validate(rows, detect_shape(rows))
    except DatasetError:
        return []
    return [Problem(numbered[problem.row - 1][0] if problem.row else None, problem.field, problem.message)
            for problem in problems]


def _parse_json(text: str) -> list[dict]:
    try:
        data = _loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":  # one object per line, saved with a .json name
            return _parse_jsonl(text)
        raise _file_problem(f"The file is not valid JSON ({error.msg} at line {error.lineno}, "
                            f"column {error.colno}). Fix it and try again.")
    except _Unreadable as error:
        raise _file_problem(f"The file {error}.")
    if isinstance(data, dict):
        lists = [value for value in data.values() if isinstance(value, list)]
        # {"data": [...]} wraps the examples; any other object is itself one example.
        data = lists[0] if len(data) == 1 and lists and not KNOWN_KEYS & set(data) else [data]
    if not isinstance(data, list):
        raise _file_problem(f"The file holds {_kind(data)}; it should hold a list of examples [{{...}}, ...].")
    problems = [Problem(number, None, f"is {_kind(value)}, not an object {{...}}")
                for number, value in enumerate(data, 1) if not isinstance(value, dict)]
    if problems:
        raise DatasetError(problems)
    return data


def _parse_csv(text: str) -> list[dict]:
    csv.field_size_limit(max(csv.field_size_limit(), CSV_CELL_LIMIT))
    # strict: a stray quote ("abc"def, or one never closed) is an error, not a silently merged cell.
    reader = csv.DictReader(io.StringIO(text, newline=""), restval="", strict=True)
    rows, problems, line = [], [], 0  # line: the last line of the last record read whole
    try:
        reader.fieldnames  # reads the header row
        line = reader.line_num
        for number, record in enumerate(reader, 1):
            _read_csv_record(record, number, rows, problems)
            line = reader.line_num
    except csv.Error as error:
        raise DatasetError(problems + [Problem(None, None, f"The CSV record from line {line + 1} is not valid CSV "
                                                          f"({error}); check its quotes and try again.")]) from None
    if problems:
        raise DatasetError(problems)
    return rows


def _read_csv_record(record: dict, number: int, rows: list[dict], problems: list[Problem]) -> None:
    if None in record:
        problems.append(Problem(number, None, "has more cells than the header has columns"))
        return
    row = {key.strip(): value for key, value in record.items()}
    for key in STRUCTURED_COLUMNS:
        if key in row:
            row[key] = _maybe_json(row[key])
    if not str(row.get("history", "x")).strip():  # an empty optional column means no history
        del row["history"]
    rows.append(row)


def _maybe_json(cell: str):
    """A cell holding a JSON list or object becomes that value; anything else stays text."""
    if cell.strip()[:1] in ("[", "{"):
        try:
            return _loads(cell)
        except (json.JSONDecodeError, _Unreadable):
            pass
    return cell


def _parse_txt(text: str) -> list[dict]:
    """Paragraphs become rows; a file without blank lines holds one paragraph per line."""
    text = text.replace("\r\n", "\n").strip()
    lines = text.splitlines()
    if any(not line.strip() for line in lines):
        chunks = [chunk.strip() for chunk in re.split(r"\n\s*\n", text)]
        paragraphs = _join_short([chunk for chunk in chunks if chunk])
    else:
        paragraphs = [line.strip() for line in lines if line.strip()]
    return [{"text": paragraph} for paragraph in paragraphs]


def _join_short(paragraphs: list[str]) -> list[str]:
    """A heading or one-liner alone teaches little; keep it with the paragraph after it."""
    joined, pending = [], ""
    for paragraph in paragraphs:
        pending = f"{pending}\n\n{paragraph}" if pending else paragraph
        if len(pending) >= SHORT_PARAGRAPH_CHARS:
            joined.append(pending)
            pending = ""
    if pending and joined:
        joined[-1] = f"{joined[-1]}\n\n{pending}"
    elif pending:
        joined.append(pending)
    return joined


# --------------------------------------------------------------------- shapes and validation


def _row_shape(row: dict) -> str | None:
    keys = set(row)
    if keys & {"chosen", "rejected"}:
        return "preference"
    if keys & {"messages", "conversations"}:
        return "chat"
    if keys & {"instruction", "output"}:
        return "instruction"
    return "text" if "text" in keys else None


def detect_shape(rows: list[dict]) -> str:
    """The shape most rows have; rows of another shape are then reported by `validate`."""
    counts = Counter(shape for shape in map(_row_shape, (r for r in rows if isinstance(r, dict))) if shape)
    if not counts:
        keys = sorted({key for row in rows if isinstance(row, dict) for key in row})
        listed = ", ".join(keys[:12]) + (", ..." if len(keys) > 12 else "")
        raise _file_problem(
            f"Cannot tell the dataset's shape from its keys ({listed or 'none'}). Expected "
            "instruction {instruction, input, output}, chat {messages} or {conversations}, text {text} "
            "or preference {prompt, chosen, rejected}; rename the columns and try again.")
    return max(counts, key=lambda shape: (counts[shape], -SHAPES.index(shape)))


def validate(rows: list[dict], shape: str) -> list[Problem]:
    """Every problem in the rows for this shape; an empty list means the data is usable."""
    checkers = {"instruction": _check_instruction, "chat": _check_chat,
                "text": _check_text_row, "preference": _check_preference}
    if shape not in checkers:
        raise _file_problem(f"Unknown dataset shape '{shape}'; use one of {', '.join(SHAPES)}.")
    problems = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            problems.append(Problem(number, None, f"is {_kind(row)}, not an object {{...}}"))
        elif _row_shape(row) not in (None, shape):  # one clear message instead of every missing key
            problems.append(Problem(number, None, f"looks like {_row_shape(row)} data, but this dataset "
                                                  f"holds {shape} examples; keep one shape per file"))
        else:
            problems += checkers[shape](row, number)
    return problems


def _check_text(row: dict, key: str, number: int, required=True, allow_empty=False) -> list[Problem]:
    if key not in row:
        hint = FIELD_HINTS.get(key)
        return [Problem(number, key, f"is missing; {hint}" if hint else "is missing")] if required else []
    value = row[key]
    if not isinstance(value, str):
        return [Problem(number, key, f"must be text, not {_kind(value)}")]
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
        problems.append(Problem(number, "history", f"must be a list of [user, assistant] pairs, not {_kind(history)}"))
    for index, pair in enumerate(history if isinstance(history, list) else []):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)):
            problems.append(Problem(number, f"history[{index}]", "must be a [user text, assistant text] pair"))
    return problems


def _check_system_and_tools(row: dict, number: int) -> list[Problem]:
    problems = _check_text(row, "system", number, required=False, allow_empty=True)
    tools = row.get("tools")
    if tools is not None and not isinstance(tools, (str, list, dict)):
        problems.append(Problem(number, "tools", f"must be text or JSON tool definitions, not {_kind(tools)}"))
    return problems


def _check_chat(row: dict, number: int) -> list[Problem]:
    key = _turns_key(row)
    return _check_turns(row[key], key, number, prompt_only=False) + _check_system_and_tools(row, number)


def _turns_key(row: dict) -> str:
    return "messages" if "messages" in row else "conversations"


def _turn_keys(message: dict) -> tuple[str, str]:
    """OpenAI messages use role/content, sharegpt turns use from/value; accept either anywhere."""
    role_key = "from" if "from" in message and "role" not in message else "role"
    return role_key, ("value" if role_key == "from" else "content")


def _check_turns(turns, field: str, number: int, prompt_only: bool) -> list[Problem]:
    """Each message's role and content, then the order of the roles."""
    if not isinstance(turns, list):
        return [Problem(number, field, f"must be a list of messages, not {_kind(turns)}")]
    if not turns:
        return [Problem(number, field, "has no messages")]
    problems, roles, names = [], [], []
    for index, message in enumerate(turns):
        where = f"{field}[{index}]"
        if not isinstance(message, dict):
            problems.append(Problem(number, where, f'must be an object like {{"role": ..., "content": ...}}, '
                                                   f"not {_kind(message)}"))
            roles.append(None)
            continue
        role_key, content_key = _turn_keys(message)
        raw_role = message.get(role_key)
        role = ROLE_NAMES.get(raw_role) if isinstance(raw_role, str) else None
        if role is None:
            problem = "is missing" if raw_role is None else f"{json.dumps(raw_role)} is not a known role"
            problems.append(Problem(number, f"{where}.{role_key}", f"{problem}; use one of {', '.join(ROLE_NAMES)}"))
        content = message.get(content_key)
        if not isinstance(content, str):
            problems.append(Problem(number, f"{where}.{content_key}",
                                    "is missing" if content is None else f"must be text, not {_kind(content)}"))
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
        problems.append(Problem(number, field, "must end with a user turn: the question 'chosen' and 'rejected' answer"))
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
        key = _turns_key(row)
        problems = _check_turns(row[key], key, number, prompt_only=True)
    elif "instruction" in row:
        problems = _check_instruction_prompt(row, number)
    else:
        problems = [Problem(number, "prompt", "is missing; add a 'prompt' (or 'instruction', or 'conversations') "
                                              "with the question both answers reply to")]
    answers = {}
    for key in ("chosen", "rejected"):
        answer = _response_text(row.get(key))
        if key not in row:
            problems.append(Problem(number, key, f"is missing; {FIELD_HINTS[key]}"))
        elif answer is None:
            problems.append(Problem(number, key, 'must be text or a message like {"role": "assistant", '
                                                 f'"content": ...}}, not {_kind(row[key])}'))
        elif not answer.strip():
            problems.append(Problem(number, key, f"is empty; {FIELD_HINTS[key]}"))
        answers[key] = answer
    if answers["chosen"] and answers["chosen"].strip() == (answers["rejected"] or "").strip():
        problems.append(Problem(number, "rejected", "is the same as 'chosen'; a preference pair needs two "
                                                    "different answers"))
    return problems + _check_system_and_tools(row, number)


# ------------------------------------------------------------------------- rows to messages


def _response_text(value) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        text = value.get("content", value.get("value"))
        return text if isinstance(text, str) else None
    return None


def _normalise_turns(turns: list[dict]) -> list[dict]:
    messages = []
    for message in turns:
        role_key, content_key = _turn_keys(message)
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
    """A row as chat messages [{"role", "content"}]; for preference rows, the prompt only."""
    if shape == "instruction":
        return _with_system(row, _instruction_messages(row) + [{"role": "assistant", "content": row["output"]}])
    if shape == "chat":
        return _with_system(row, _normalise_turns(row[_turns_key(row)]))
    if shape == "preference":
        return preference_parts(row)[0]
    raise ValueError(f"'{shape}' rows have no conversation turns; only instruction, chat and preference rows do.")


def preference_parts(row: dict) -> tuple[list[dict], str, str]:
    """(prompt messages, chosen answer, rejected answer) of a preference row."""
    prompt = row.get("prompt")
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, list):
        messages = _normalise_turns(prompt)
    elif "messages" in row or "conversations" in row:
        messages = _normalise_turns(row[_turns_key(row)])
    else:
        messages = _instruction_messages(row)
    return _with_system(row, messages), _response_text(row["chosen"]), _response_text(row["rejected"])


def training_messages(row: dict, shape: str) -> list[dict]:
    """The conversation SFT learns from; for a preference pair, the prompt and the chosen answer."""
    if shape == "preference":
        prompt, chosen, _ = preference_parts(row)
        return prompt + [{"role": "assistant", "content": chosen}]
    return to_messages(row, shape)


# ------------------------------------------------------------------- load, import and split


def load_dataset(path) -> Dataset:
    """Read, detect and validate a file; any problem raises DatasetError, so nothing half-loads."""
    path = Path(path)
    try:
        rows = read_rows(path)
        shape = detect_shape(rows)
        problems = validate(rows, shape)
        if problems:
            raise DatasetError(problems)
    except DatasetError as error:
        error.source = error.source or path.name
        raise
    return Dataset(shape=shape, rows=rows, source=path.name)


def import_dataset(path, name: str | None = None) -> Path:
    """Copy a checked dataset into the workspace as JSONL; the previous version stays as `.prev`."""
    dataset = load_dataset(path)
    target = datasets_dir() / f"{safe_name(name or Path(path).stem, default='dataset')}.jsonl"
    return write_jsonl(target, dataset.rows, keep_previous=True)


def write_jsonl(path, rows: list[dict], keep_previous: bool = False) -> Path:
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return atomic_write_text(path, text, keep_previous=keep_previous)


def split_rows(rows: list[dict], validation_split: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(train, validation), shuffled with `seed` so the same settings give the same split."""
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be at least 0 and below 1 (0.1 holds out 10%); got {validation_split}.")
    rows = list(rows)
    if validation_split == 0 or len(rows) < 2:
        return rows, []
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    count = min(max(1, round(len(rows) * validation_split)), len(rows) - 1)
    return shuffled[count:], shuffled[:count]


def check_file(path, tokenizer=None, cutoff_length=None) -> dict:
    """The `studio data check` report; dataset problems go in "problems", only a missing file raises."""
    from studio import tokens  # tokens builds on this module

    path = _existing_file(path)
    report = {"file": str(path), "shape": None, "rows": 0, "problems": [], "ok": False}
    try:
        rows = read_rows(path)
        report["rows"] = len(rows)
        report["shape"] = shape = detect_shape(rows)
        problems = validate(rows, shape)
    except DatasetError as error:
        report["problems"] = [str(problem) for problem in error.problems]
        return report
    report["problems"] = [str(problem) for problem in problems]
    report["ok"] = not problems
    report["warnings"] = [warning for warning in (placeholder_warning(rows),) if warning]
    if tokenizer is not None:
        flagged = {problem.row for problem in problems}
        usable = [row for number, row in enumerate(rows, 1) if number not in flagged]
        try:
            lengths = [tokens.token_count(row, shape, tokenizer) for row in usable]
        except (ValueError, TemplateError) as error:
            report["problems"].append(str(error))
            report["ok"] = False
            return report
        report["tokens"] = tokens.length_summary(lengths)
        report["over_cutoff"] = sum(length > cutoff_length for length in lengths) if cutoff_length else 0
    return report
