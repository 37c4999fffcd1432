"""Editing a dataset: the Dataset tab's logic, without the UI.

A `Draft` is one person's dataset being edited: its name, shape, rows and undo history. Drafts
open from files, save into the workspace (never over a file they did not open), split and export;
the checks (problems, duplicate prompts, token lengths and their histogram, what the model sees,
preference pairs side by side) are plain functions over lists of row dicts, tested without a
browser. The table itself (rows as cells and back, search, find-and-replace) is `studio.table`.

Nothing here changes a row in place: an edit returns new row dicts, so an undo snapshot is just
the previous list of rows.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from jinja2.exceptions import TemplateError

from studio.config import SAMPLES_DIR
from studio.data import load_dataset, save_dataset, split_rows, write_jsonl
from studio.datafile import SUFFIXES, read_rows
from studio.messages import feedback_parts, preference_parts, training_messages
from studio.shapes import SHAPES, DatasetError, Problem, detect_shape, validate
from studio.table import JSON_COLUMNS, blank_row, table_columns
from studio.tokens import render_example, token_count
from studio.workspace import NAME_BYTES, datasets_dir, inside, safe_name


UNDO_LIMIT = 30
NICE_STEPS = (1, 2, 5)


@dataclass(frozen=True, eq=False)
class Draft:
    """One person's dataset being edited; `history` holds (rows before, what changed), oldest first.

    A Draft is never changed: every edit makes a new one. So a Draft equals only itself and hashes by
    identity (eq=False), which is what tells one version from the next; its rows are lists, so a hash of
    its fields could not be taken anyway."""

    name: str = ""
    shape: str = "instruction"
    rows: list[dict] = field(default_factory=list)
    history: tuple = ()
    saved: bool = True
    # The workspace file this draft was opened from or last saved to, as (path, size, modified ns): a save
    # may replace that file as it was, and no other.
    source: tuple = ()

    @property
    def columns(self) -> list[str]:
        return table_columns(self.rows, self.shape)

    def edit(self, rows: list[dict], change: str) -> Draft:
        """A draft with these rows; `change` names the kind of edit (edit, add, delete, replace), which `undo` gives back."""
        history = (self.history + ((self.rows, change),))[-UNDO_LIMIT:]
        return replace(self, rows=rows, history=history, saved=False)

    def undo(self) -> tuple[Draft, str]:
        """The draft before the last change, and what that change was."""
        if not self.history:
            raise ValueError("Nothing to undo.")
        rows, change = self.history[-1]
        return replace(self, rows=rows, history=self.history[:-1], saved=False), change


# ------------------------------------------------------------------------ opening and saving


def new_draft(name: str, shape: str) -> Draft:
    if shape not in SHAPES:
        raise ValueError(f"Unknown dataset shape '{shape}'; use one of {', '.join(SHAPES)}.")
    return Draft(name=safe_name(name, default="new-dataset"), shape=shape, rows=[blank_row(shape)], saved=False)


def open_file(path, name: str | None = None) -> Draft:
    """Any readable file opens, problems and all, so they can be fixed here; unreadable files raise."""
    rows = read_rows(path)
    return draft_of(rows, detect_shape(rows), path, name)


def draft_of(rows: list[dict], shape: str, path, name: str | None = None) -> Draft:
    """The draft of a file's rows. Preference pairs open as prompt / chosen / rejected text, and feedback rows
    as prompt / completion / label, where that loses nothing (see editable_pair, editable_feedback)."""
    if shape == "preference":
        rows = [editable_pair(row) for row in rows]
    elif shape == "feedback":
        rows = [editable_feedback(row) for row in rows]
    return Draft(name=safe_name(name or Path(path).stem, default="dataset"), shape=shape, rows=rows,
                 source=file_identity(path))


def file_identity(path) -> tuple:
    """(path, size, modified ns) of a file, to tell later whether it is still the same file as it was."""
    path = Path(path).resolve()
    try:
        status = path.stat()
    except OSError:
        return ()
    return (str(path), status.st_size, status.st_mtime_ns)


def upload_file(path) -> Draft:
    """Import into the workspace (all-or-nothing: any problem raises and nothing is written), then open.

    The workspace file is named by `safe_name` of the uploaded file's name, never used as a path, and
    never replaces a saved dataset: uploading `reviews.jsonl` again makes `reviews-2`."""
    dataset = load_dataset(path)  # read once: the copy written is these rows
    return draft_of(dataset.rows, dataset.shape, save_dataset(dataset, unused_name(Path(path).stem)))


def unused_name(name: str, suffix: str = "") -> str:
    """`name` + `suffix` made safe, or with -2, -3, ... added when a workspace dataset has it already.

    A long name is shortened to make room, never the suffix: `<name>-train` always ends in -train, so a
    name derived from a dataset never lands on that dataset itself."""
    stem = safe_name(name, default="dataset")

    def fitted(ending: str) -> str:
        room = NAME_BYTES - len(ending.encode("utf-8"))
        return safe_name(stem.encode("utf-8")[:room].decode("utf-8", "ignore"), default="dataset") + ending

    candidate, number = fitted(suffix), 1
    while workspace_path(candidate).exists():
        number += 1
        candidate = fitted(f"{suffix}-{number}")
    return candidate


def sample_files() -> list[str]:
    return sorted(path.name for path in SAMPLES_DIR.iterdir() if path.suffix.lower() in SUFFIXES)


def sample_path(name: str) -> Path:
    return inside(SAMPLES_DIR, Path(str(name)).name)


def workspace_datasets() -> list[str]:
    return sorted(path.stem for path in datasets_dir().glob("*.jsonl"))


def workspace_path(name: str) -> Path:
    return inside(datasets_dir(), f"{safe_name(name, default='dataset')}.jsonl")


def require_usable(draft: Draft) -> None:
    """Only data that trains leaves the editor: problems are listed by row and field instead."""
    if not draft.rows:
        raise ValueError("The dataset has no rows; add one first.")
    problems = find_problems(draft.rows, draft.shape)
    if problems:
        raise DatasetError(problems, source=draft.name or "The dataset")


def save(draft: Draft, name: str) -> tuple[Draft, Path]:
    """Write the rows to `<workspace>/datasets/<name>.jsonl`, keeping the previous file as `.prev`.

    Only the file the draft came from, as it was then, is replaced: a dataset of that name that this draft
    did not open, or that was saved again since (by another browser, or the command line), is refused with
    a free name to save under instead."""
    draft = replace(draft, name=safe_name(name or draft.name, default="dataset"))
    require_usable(draft)
    path = workspace_path(draft.name)
    if path.exists() and file_identity(path) != draft.source:
        opened = draft.source and draft.source[0] == str(path.resolve())
        why = "was saved again since you opened it" if opened else "is already in the workspace"
        raise ValueError(f"A dataset named '{draft.name}' {why}; saving would replace it. Save under another "
                         f"name (for example '{unused_name(draft.name)}'), or open '{draft.name}' to edit it.")
    path = write_jsonl(path, draft.rows, keep_previous=True)
    return replace(draft, saved=True, source=file_identity(path)), path


def split(draft: Draft, validation_share: float, seed: int) -> tuple[Path, int, Path, int]:
    """Write `<name>-train.jsonl` and `<name>-validation.jsonl` (or -2, -3, ... when taken); returns each path
    with its row count. Neither ever replaces a file: not the dataset split, not an earlier split."""
    require_usable(draft)
    if len(draft.rows) < 2:
        raise ValueError("Splitting needs at least 2 rows.")
    train, validation = split_rows(draft.rows, validation_share, int(seed))
    train_path = workspace_path(unused_name(draft.name, "-train"))
    validation_path = workspace_path(unused_name(draft.name, "-validation"))
    write_jsonl(train_path, train)
    write_jsonl(validation_path, validation)
    return train_path, len(train), validation_path, len(validation)


def export(draft: Draft, folder: Path) -> Path:
    require_usable(draft)
    return write_jsonl(Path(folder) / f"{safe_name(draft.name, default='dataset')}.jsonl", draft.rows)


DOWNLOAD_HOURS = 1  # a download is served from the web server's own copy; ours are removed after this


def export_for_download(draft: Draft) -> Path:
    """The rows as JSONL in a fresh folder under the workspace cache, which later exports clear out.
    A refused export writes nothing."""
    import shutil
    import tempfile
    import time

    from studio.workspace import cache_dir

    require_usable(draft)
    downloads = cache_dir() / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    for old in downloads.iterdir():
        if old.stat().st_mtime < time.time() - DOWNLOAD_HOURS * 3600:
            shutil.rmtree(old, ignore_errors=True)
    return export(draft, Path(tempfile.mkdtemp(prefix="export-", dir=downloads)))


# ------------------------------------------------------------------------------------ checks


def find_problems(rows: list[dict], shape: str) -> list[Problem]:
    """`studio.shapes.validate`'s problems, with JSON cells that do not parse named as such."""
    unparsed = {}
    for number, row in enumerate(rows, 1):
        for column in JSON_COLUMNS:
            if isinstance(row.get(column), str):
                try:
                    json.loads(row[column])
                except json.JSONDecodeError as error:
                    unparsed[(number, column)] = Problem(
                        number, column, f"is not valid JSON ({error.msg} at column {error.colno}); fix the cell")
    problems = [problem for problem in validate(rows, shape) if (problem.row, problem.field) not in unparsed]
    return sorted(problems + list(unparsed.values()), key=lambda problem: problem.row or 0)


def duplicate_groups(rows: list[dict], shape: str) -> list[list[int]]:
    """Groups of row numbers whose prompt (everything before the reply; the text itself for text rows) is the same;
    for feedback rows the prompt and the answer, as one prompt may well have a good answer and a bad one."""
    groups: dict[str, list[int]] = {}
    for number, row in enumerate(rows, 1):
        key = _prompt_key(row, shape)
        if key is not None:
            groups.setdefault(key, []).append(number)
    return [numbers for numbers in groups.values() if len(numbers) > 1]


def _prompt_key(row: dict, shape: str) -> str | None:
    if shape == "text":
        return row.get("text") if isinstance(row.get("text"), str) else None
    try:
        messages = training_messages(row, shape)
    except (KeyError, TypeError, AttributeError, ValueError):  # broken rows are reported by find_problems
        return None
    if messages and messages[-1]["role"] == "assistant" and shape != "feedback":
        messages = messages[:-1]
    return json.dumps(messages, ensure_ascii=False, sort_keys=True)


def token_lengths(rows: list[dict], shape: str, tokenizer, problems: list[Problem]) -> list[int]:
    """Tokens per usable row (rows with problems are skipped), as the model's chat template renders them."""
    flagged = {problem.row for problem in problems}
    lengths = []
    for number, row in enumerate(rows, 1):
        if number in flagged:
            continue
        try:
            lengths.append(token_count(row, shape, tokenizer))
        except TemplateError as error:
            raise ValueError(f"Row {number}: the model's chat template cannot render this row ({error}).") from error
    return lengths


def model_view(rows: list[dict], shape: str, number: int, tokenizer) -> list[tuple[str, bool]]:
    """Row `number` as the model's chat template renders it, in pieces flagged trained (True) or masked."""
    if not 1 <= number <= len(rows):
        raise ValueError(f"Row {number} does not exist; the dataset has {len(rows)} rows.")
    problems = [str(problem) for problem in find_problems(rows, shape) if problem.row == number]
    if problems:
        raise ValueError("Fix this row first:\n" + "\n".join(problems))
    try:
        return render_example(rows[number - 1], shape, tokenizer)
    except TemplateError as error:
        raise ValueError(f"Row {number}: the model's chat template cannot render this row ({error}).") from error


def histogram_bins(lengths: list[int], cutoff: int, bin_count: int = 20) -> list[dict]:
    """Bins of token lengths (start, end] with a round width, from the shortest row to the longest;
    the cut-off is always a bin edge, so every bin is wholly within it ("over": False) or over it."""
    if not lengths:
        return []
    low, top = min(lengths), max(lengths)
    width = _nice_width(math.ceil((top - low + 1) / bin_count))
    first_edge = (low - 1) // width * width  # the first bin holds the shortest row, not empty bins from 0
    edges = list(range(first_edge, top + width, width))
    if edges[0] < cutoff < edges[-1] and cutoff not in edges:
        edges = sorted(edges + [cutoff])
    return [{"start": start, "end": end, "rows": sum(start < length <= end for length in lengths), "over": start >= cutoff}
            for start, end in zip(edges, edges[1:])]


def _nice_width(width: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least `width`."""
    power = 1
    while True:
        for step in NICE_STEPS:
            if step * power >= width:
                return step * power
        power *= 10


def editable_pair(row: dict) -> dict:
    """A preference row as the editor's prompt / chosen / rejected text columns, when that loses nothing:
    message-object answers become their text, and a prompt of one user turn its text (a longer
    conversation stays a message list). Other rows come back as they are."""
    if (not isinstance(row, dict) or "tools" in row or "instruction" in row
            or validate([row], "preference")):
        return row
    # Without the row's `system` key, which preference_parts would fold into the prompt; it stays a column.
    prompt, chosen, rejected = preference_parts({key: value for key, value in row.items() if key != "system"})
    kept = {key: value for key, value in row.items() if key not in ("prompt", "messages", "conversations", "chosen", "rejected")}
    plain = prompt[0]["content"] if len(prompt) == 1 and prompt[0]["role"] == "user" else prompt
    return {"prompt": plain, "chosen": chosen, "rejected": rejected, **kept}


def editable_feedback(row: dict) -> dict:
    """A feedback row as the editor's prompt / completion / label columns, when that loses nothing: a conversation
    ending in the answer (LLaMA-Factory's KTO rows) becomes its prompt and its answer's text, a prompt of one user
    turn its text (a longer conversation stays a message list). Alpaca rows (instruction and input apart) and
    rows with problems or tools come back as they are."""
    if (not isinstance(row, dict) or "tools" in row or "instruction" in row or "output" in row
            or validate([row], "feedback")):
        return row
    # Without the row's `system` key, which feedback_parts would fold into the prompt; it stays a column.
    prompt, answer, label = feedback_parts({key: value for key, value in row.items() if key != "system"})
    kept = {key: value for key, value in row.items() if key not in ("prompt", "messages", "conversations", "completion", "label")}
    plain = prompt[0]["content"] if len(prompt) == 1 and prompt[0]["role"] == "user" else prompt
    return {"prompt": plain, "completion": answer, "label": label, **kept}


def pair_texts(rows: list[dict], number: int) -> tuple[str, str, str]:
    """(the prompt's last turn, chosen, rejected) of row `number`, for the side-by-side view."""
    if not 1 <= number <= len(rows):
        raise ValueError(f"Row {number} does not exist; the dataset has {len(rows)} rows.")
    problems = [str(problem) for problem in validate(rows, "preference") if problem.row == number]
    if problems:
        raise ValueError("Fix this row first:\n" + "\n".join(problems))
    prompt, chosen, rejected = preference_parts(rows[number - 1])
    return prompt[-1]["content"], chosen, rejected
