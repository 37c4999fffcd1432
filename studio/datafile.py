"""Reading the files people bring: .jsonl, .json, .csv and .txt, as a list of JSON-object rows.

Decoding (UTF-8, with or without Excel's BOM; UTF-16/32 with a byte-order mark), parsing each
format, and refusing what cannot be read with the row and reason: broken JSON lines, stray CSV
quotes, NUL bytes, numbers or nesting JSON cannot round-trip. A broken JSONL line does not hide
the other rows' problems: the lines that parse are validated too. Columns named question/answer,
prompt/response and the like are read as instruction rows; a CSV's `label` cells true/false (any case)
as the booleans of feedback rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import re
from pathlib import Path

from studio.shapes import DatasetError, MissingFileError, Problem, detect_shape, file_problem, kind, row_shape, validate

SUFFIXES = (".jsonl", ".json", ".csv", ".txt")
# Other names people give a question's and an answer's columns; read as instruction / output.
PROMPT_ALIASES = ("question", "prompt", "query", "input_text", "source")
ANSWER_ALIASES = ("answer", "response", "completion", "target", "output_text")
SHORT_PARAGRAPH_CHARS = 80  # headings and one-liners in .txt files are joined to what follows
# Python's csv refuses cells over 128 KiB; a long document in one cell is fine for pre-training.
CSV_CELL_LIMIT = 64 * 2**20
# Byte-order marks of the encodings Excel and Windows editors save as "Unicode"; UTF-32 first, as its
# little-endian mark starts with UTF-16's.
BYTE_ORDER_MARKS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# CSV cells in these columns may hold JSON (a list of messages, a message object).
STRUCTURED_COLUMNS = ("messages", "conversations", "history", "prompt", "chosen", "rejected", "completion")
KNOWN_KEYS = {"instruction", "input", "output", "system", "history", "messages", "conversations",
              "tools", "text", "prompt", "chosen", "rejected", "completion", "label"}


def read_rows(path) -> list[dict]:
    """The examples in a .jsonl, .json, .csv or .txt file, as JSON objects."""
    path = existing_file(path)
    readers = {".jsonl": _parse_jsonl, ".json": _parse_json, ".csv": _parse_csv, ".txt": _parse_txt}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise file_problem(f"'{path.suffix or 'no extension'}' files are not supported; "
                           f"save it as {', '.join(SUFFIXES)} and try again.", path.name)
    text = _decode(path)
    if not text.strip():
        raise file_problem("The file is empty; add examples and try again.", path.name)
    try:
        rows = reader(text)
    except DatasetError as error:
        error.source = path.name
        raise
    if not rows:
        raise file_problem("The file holds no examples; add some and try again.", path.name)
    return with_known_columns(rows)


def with_known_columns(rows: list[dict]) -> list[dict]:
    """Rows whose columns are the common other names for a question and its answer (question/answer,
    prompt/response, query/completion, ...) read as instruction rows; rows of a known shape stay as they are."""
    if any(isinstance(row, dict) and row_shape(row) for row in rows):
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


def existing_file(path) -> Path:
    """`path` as a Path; MissingFileError when no file is there."""
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
                raise file_problem(f"The file starts like {encoding.upper()} text but is not valid {encoding.upper()}. "
                                   "Save it with UTF-8 encoding and try again.", path.name) from None
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise file_problem(f"The file holds NUL bytes (first on line {line}): it is a binary file, or UTF-16 text "
                           "without a byte-order mark. Save it as UTF-8 text and try again.", path.name)
    try:
        return data.decode("utf-8-sig")  # utf-8-sig also reads plain UTF-8, and drops Excel's BOM
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise file_problem(f"The file is not UTF-8 text (bad byte on line {line}). Save it with UTF-8 "
                           "encoding (e.g. 'Save as... UTF-8' in your editor) and try again.", path.name)


NOT_FINITE = "holds NaN or Infinity, which JSON does not allow; write null or a number"
NESTING_CHECKED = 100  # brackets in one text, from which writing it back is checked too


class _Unreadable(ValueError):
    """JSON that json.loads takes (or chokes on without a JSONDecodeError) but a dataset cannot hold."""


def _loads(text: str):
    """json.loads, refusing what would crash later: deep nesting, giant numbers, NaN, half characters.

    Rows are written back as strict UTF-8 JSON, so a value that cannot be written is refused here,
    where its row number is known. NaN and infinite numbers are caught as they are parsed; writing the
    value back to check it (which doubles the cost of a large file) is left to the only texts where
    something else could fail: those with a \\u escape (half a character comes only from one, as
    decoding refuses it elsewhere) or deep enough nesting to approach the recursion limit.
    """
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (json.JSONDecodeError, _Unreadable):
        raise
    except RecursionError:
        raise _Unreadable("is nested too deeply to read") from None
    except ValueError:  # Python's limit on the digits of one integer
        raise _Unreadable("holds a number with thousands of digits; write it as text") from None
    if "\\u" not in text and text.count("[") + text.count("{") < NESTING_CHECKED:
        return value
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False, check_circular=False).encode("utf-8")
    except UnicodeEncodeError:
        raise _Unreadable("holds half of a character (an unpaired \\ud800-\\udfff escape); fix or remove it") from None
    except ValueError:
        raise _Unreadable(NOT_FINITE) from None
    except RecursionError:
        raise _Unreadable("is nested too deeply to read") from None
    return value


def _refuse_constant(name: str):
    raise _Unreadable(NOT_FINITE)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 reads as infinity
        raise _Unreadable(NOT_FINITE)
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
            problems.append(Problem(number, None, f"is {kind(value)}, not a JSON object {{...}}"))
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
        raise file_problem(f"The file is not valid JSON ({error.msg} at line {error.lineno}, "
                           f"column {error.colno}). Fix it and try again.")
    except _Unreadable as error:
        raise file_problem(f"The file {error}.")
    if isinstance(data, dict):
        lists = [value for value in data.values() if isinstance(value, list)]
        # {"data": [...]} wraps the examples; any other object is itself one example.
        data = lists[0] if len(data) == 1 and lists and not KNOWN_KEYS & set(data) else [data]
    if not isinstance(data, list):
        raise file_problem(f"The file holds {kind(data)}; it should hold a list of examples [{{...}}, ...].")
    problems = [Problem(number, None, f"is {kind(value)}, not an object {{...}}")
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
    if str(row.get("label")).strip().lower() in ("true", "false"):  # a feedback label, as a spreadsheet writes it
        row["label"] = row["label"].strip().lower() == "true"
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
