"""The dataset editor's table: rows as table cells and back, and the edits the table offers.

Each row shows as the shape's own columns, then every other key it holds (`table_columns`);
values show as text, lists and objects as JSON (`cell_text`). Edited cells come back through
`apply_table`, by row number, so a filtered or paged view edits the right rows; rows added or
deleted in the table are added or deleted. Search, pages, row numbers like "3, 5-7" and
find-and-replace are plain functions over lists of row dicts.

Nothing here changes a row in place: an edit returns new row dicts, and an unchanged row is the
same dict as before.
"""

from __future__ import annotations

import json
import math
import re

NUMBER_COLUMN = "#"  # the table's read-only first column: the row's number in the whole dataset
SHAPE_COLUMNS = {
    "instruction": ("instruction", "input", "output"),
    "chat": ("messages",),
    "text": ("text",),
    "preference": ("prompt", "chosen", "rejected"),
    "feedback": ("prompt", "completion", "label"),
}
# Cells of these columns hold JSON text in the table and are parsed back into lists.
JSON_COLUMNS = ("messages", "conversations", "history")
BOOLEAN_COLUMNS = ("label",)  # true / false typed in a cell is a feedback row's label
BLANK_ROWS = {
    "instruction": {"instruction": "", "input": "", "output": ""},
    "chat": {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}]},
    "text": {"text": ""},
    "preference": {"prompt": "", "chosen": "", "rejected": ""},
    "feedback": {"prompt": "", "completion": "", "label": True},
}


# ------------------------------------------------------------------------ rows as table cells


def blank_row(shape: str) -> dict:
    return json.loads(json.dumps(BLANK_ROWS[shape]))  # a fresh copy: rows are never shared


def table_columns(rows: list[dict], shape: str) -> list[str]:
    """The shape's own columns first, then every other key the rows hold, so nothing is hidden."""
    present = list(dict.fromkeys(key for row in rows for key in row))
    base = list(SHAPE_COLUMNS[shape])
    if shape == "chat" and "conversations" in present and "messages" not in present:
        base = ["conversations"]
    if shape == "preference" and "prompt" not in present and present:
        base = [key for key in ("instruction", "input", "messages", "conversations") if key in present] + base[1:]
    if shape == "feedback" and "completion" not in present and present:  # alpaca or chat rows with a label
        base = [key for key in ("instruction", "input", "output", "messages", "conversations") if key in present]
        base += ["label"]
    return base + [key for key in present if key not in base]


def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def table_rows(rows: list[dict], columns: list[str], numbers: list[int]) -> list[list]:
    return [[number] + [cell_text(rows[number - 1].get(column)) for column in columns] for number in numbers]


def parse_cell(column: str, text: str, original):
    """Text typed into a cell as the row's value; JSON cells become lists again when they parse, and true / false in
    a label cell a boolean again."""
    if (column in BOOLEAN_COLUMNS or isinstance(original, bool)) and text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    if column in JSON_COLUMNS or isinstance(original, (list, dict)):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return text  # kept as typed, so find_problems can name the row and the parse error
        if isinstance(value, (list, dict)):
            return value
    return text


def apply_table(rows: list[dict], shape: str, records: list[dict], shown: list[int]) -> tuple[list[dict], int]:
    """The rows after edits to the shown part of the table, and how many rows changed.

    `records` are the table's rows as {column: cell}, the row number under "#". A record without a
    number is a row added in the table: it goes in below the numbered row above it. A shown number
    missing from the records is a row deleted in the table.
    """
    columns, rows, present, changed = table_columns(rows, shape), list(rows), set(), 0
    added: dict[int, list[dict]] = {}  # new rows by the number of the row above them; 0 is the top
    above = 0
    for record in records:
        number = _row_number(record.get(NUMBER_COLUMN))
        cells = {column: _text(record[column]) for column in columns if column in record}
        if number in shown and number <= len(rows) and number not in present:
            present.add(number)
            above = number
            edited = _edited_row(rows[number - 1], cells)
            changed += edited is not rows[number - 1]
            rows[number - 1] = edited
        elif any(text.strip() for text in cells.values()):  # an empty new row is not data yet
            typed = {column: text for column, text in cells.items() if text}
            added.setdefault(above, []).append(_edited_row(blank_row(shape), typed))
    deleted = set(shown) - present
    result = list(added.get(0, []))
    for number, row in enumerate(rows, 1):
        result += ([] if number in deleted else [row]) + added.get(number, [])
    return result, changed + sum(map(len, added.values())) + len(deleted)


def _row_number(value) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None


def _text(value) -> str:
    return "" if value is None else str(value)


def _edited_row(row: dict, cells: dict[str, str]) -> dict:
    """A new dict when a cell differs; the same row otherwise, so unchanged rows are not counted."""
    updated = dict(row)
    for column, text in cells.items():
        if text != cell_text(row.get(column)) and (column in row or text):
            updated[column] = parse_cell(column, text, row.get(column))
    return updated if updated != row else row


# ----------------------------------------------------------------------- search and edits


def matching_rows(rows: list[dict], query: str) -> list[int]:
    """Numbers (from 1) of the rows where any cell contains `query`, ignoring case."""
    query = (query or "").strip().casefold()
    return [number for number, row in enumerate(rows, 1)
            if not query or any(query in cell_text(value).casefold() for value in row.values())]


def page_of(numbers: list[int], page: int, page_size: int) -> tuple[list[int], int]:
    """The numbers on `page` (from 1, clamped to the pages there are) and that page."""
    pages = max(1, math.ceil(len(numbers) / page_size))
    page = min(max(1, int(page or 1)), pages)
    return numbers[(page - 1) * page_size: page * page_size], page


def parse_row_numbers(text: str, total: int) -> list[int]:
    """"3, 5-7" -> [3, 5, 6, 7]; every number must be a row of the dataset."""
    numbers = set()
    for part in filter(None, (part.strip() for part in re.split(r"[,\s]+", text or ""))):
        match = re.fullmatch(r"(\d+)(?:\s*[-–]\s*(\d+))?", part)
        if not match:
            raise ValueError(f"'{part}' is not a row number or a range like 5-7.")
        first, last = int(match[1]), int(match[2] or match[1])
        if first > last:
            first, last = last, first
        if first < 1 or last > total:
            raise ValueError(f"Row {last if last > total else first} does not exist; the dataset has {total} rows.")
        numbers.update(range(first, last + 1))
    if not numbers:
        raise ValueError("Type the row numbers to delete, e.g. 3, 5-7.")
    return sorted(numbers)


def delete_rows(rows: list[dict], numbers: list[int]) -> list[dict]:
    doomed = set(numbers)
    return [row for number, row in enumerate(rows, 1) if number not in doomed]


def replace_text(rows: list[dict], find: str, replacement: str, columns: list[str] | None = None) -> tuple[list[dict], int]:
    """Replace `find` in every text of the chosen columns (all when none), inside JSON cells too;
    returns the new rows and how many cells changed."""
    if not find:
        raise ValueError("Type the text to find.")
    new_rows, cells = [], 0
    for row in rows:
        updated = {key: _replaced(value, find, replacement) if not columns or key in columns else value
                   for key, value in row.items()}
        changed = sum(updated[key] != row[key] for key in row)
        cells += changed
        new_rows.append(updated if changed else row)
    return new_rows, cells


def _replaced(value, find: str, replacement: str):
    """Replace in strings, list items and object values; keys (roles, field names) stay as they are."""
    if isinstance(value, str):
        return value.replace(find, replacement)
    if isinstance(value, list):
        return [_replaced(item, find, replacement) for item in value]
    if isinstance(value, dict):
        return {key: _replaced(item, find, replacement) for key, item in value.items()}
    return value
