"""Datasets: load the files people bring, check them, import them into the workspace and split them.

A dataset is a JSONL file under `<workspace>/datasets/`, one example per line, in one of five
shapes (see docs/design.md): instruction (alpaca), chat (OpenAI `messages` or sharegpt
`conversations`), text (raw text for pre-training), preference (DPO pairs) and feedback (single
answers labelled good or bad, for KTO). Imports accept
.jsonl, .json, .csv and .txt and are all-or-nothing: a file with any problem is refused with
every problem listed by row and field, and nothing is written.

The pieces: `studio.datafile` reads files, `studio.shapes` tells shapes and finds problems,
`studio.messages` turns rows into chat messages, `studio.tokens` tokenises them for training.

    python -m studio data check my_data.jsonl
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from jinja2.exceptions import TemplateError

from studio import tokens
from studio.datafile import existing_file, read_rows
from studio.shapes import DatasetError, detect_shape, validate
from studio.workspace import atomic_write_text, datasets_dir, safe_name



@dataclass
class Dataset:
    """A file's rows, read and checked: every row valid for `shape`."""

    shape: str
    rows: list[dict]
    source: str = ""


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
    return save_dataset(load_dataset(path), name or Path(path).stem)


def save_dataset(dataset: Dataset, name: str) -> Path:
    """A loaded dataset written into the workspace as `name`.jsonl; the previous version stays as `.prev`."""
    target = datasets_dir() / f"{safe_name(name, default='dataset')}.jsonl"
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
    path = existing_file(path)
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
