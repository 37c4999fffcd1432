"""The Dataset tab's editing handlers: open, upload or start a dataset, the table of its rows and their edits
(cells, add, delete, find and replace, undo), and save, split and export.

Each browser session keeps its own `studio.editing.Draft` (rows, name, shape, undo history) in gr.State, so
two sessions never see each other's unsaved edits. The handlers are thin over `studio.editing` and take plain
values, so tests call them directly. Whatever a handler writes itself (statuses, the upload report) is in the
page's language (`lang.say`); studio's messages go through `common.user_errors` and `i18n_errors.ERRORS_ZH`.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path

import gradio as gr
import pandas as pd

from studio import editing, table
from studio.editing import Draft
from studio.shapes import DatasetError
from studio.table import NUMBER_COLUMN
from studio.ui.common import error_text, table_records, user_errors
from studio.ui.lang import language, say, words

PAGE_SIZE = 100
SHOWN_PROBLEMS = 3  # a toast names the first few; the whole list is on the page


class Report:
    """A refused file's whole problem list, kept per browser session for the message line."""

    def __init__(self):
        self.text = ""

    def __deepcopy__(self, memo) -> "Report":  # each session's copy of the initial value is a new, empty one
        return Report()


def short_message(error: ValueError) -> str:
    """The first lines of a message, for a toast; a long problem list is cut with a pointer to the rest."""
    lines = str(error).splitlines()
    if len(lines) > SHOWN_PROBLEMS + 1:
        lines = lines[:SHOWN_PROBLEMS + 1] + [f"... and {len(lines) - SHOWN_PROBLEMS - 1} more, listed below"]
    return "\n".join(lines)


def short_problem_lists(handler):
    """A refused dataset's problem list (which the check or the message line shows whole) is cut short for
    its toast; `user_errors` above it turns it into that toast."""
    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except ValueError as error:
            raise ValueError(short_message(error)) from error
    return wrapper


def is_open(draft: Draft) -> bool:
    """Whether the session has a dataset open: every opened, uploaded or new draft has a name."""
    return bool(draft.name)


def shape_label(request: gr.Request | None, shape: str) -> str:
    return say(request, f"dataset.shape_name.{shape}")


def opened(draft: Draft, request: gr.Request | None, saved=None, sample=None) -> tuple:
    """A freshly opened draft: its name and shape shown, search and rows to delete cleared, first page; the
    source dropdown it did not come from is cleared (None), the one it came from left as picked (gr.skip())."""
    return (draft, draft.name, shape_label(request, draft.shape), "", 1, gr.update(choices=draft.columns, value=[]),
            "", saved, sample)


def unchanged() -> tuple:
    """What an open with nothing picked returns: nothing changes, and nothing is said."""
    return (gr.skip(),) * 9


@user_errors
def open_saved(name: str, request: gr.Request | None = None) -> tuple:
    """Open a workspace dataset as soon as it is picked; a cleared pick does nothing."""
    if not name:
        return unchanged()
    return opened(editing.open_file(editing.workspace_path(name)), request, saved=gr.skip())


@user_errors
def open_sample(name: str, request: gr.Request | None = None) -> tuple:
    """Open a shipped sample as soon as it is picked; a cleared pick does nothing."""
    if not name:
        return unchanged()
    return opened(editing.open_file(editing.sample_path(name)), request, sample=gr.skip())


def describe_sample(name: str | None, request: gr.Request | None = None) -> str:
    """What the picked sample teaches and how to test it after training, in the page's language."""
    if not name:
        return ""
    return words(request).get(f"dataset.about.{Path(name).stem}", "")


@user_errors
@short_problem_lists
def upload(path: str, report: Report | None = None, request: gr.Request | None = None) -> tuple:
    """Import and open a file; a refused one leaves its whole problem list in `report` for the message line."""
    try:
        return opened(editing.upload_file(path), request)
    except DatasetError as error:
        if report is not None:
            report.text = str(error)
        raise


def show_report(report: Report, request: gr.Request | None = None) -> str:
    """A refused upload's whole problem list, in the page's language, one line each."""
    if not report.text:
        return ""
    return html.escape(error_text(report.text, language(request)), quote=False).replace("\n", "  \n")


@user_errors
def create(name: str, shape: str, request: gr.Request | None = None) -> tuple:
    return opened(editing.new_draft(name, shape), request)


def saved_choices() -> gr.Dropdown:
    return gr.Dropdown(choices=editing.workspace_datasets())


def show_table(draft: Draft, query: str, page: int, request: gr.Request | None = None) -> tuple:
    """The page of rows matching the search; `shown` remembers their numbers for mapping edits back."""
    matching = table.matching_rows(draft.rows, query)
    shown, page = table.page_of(matching, page, PAGE_SIZE)
    columns = draft.columns
    frame = pd.DataFrame(table.table_rows(draft.rows, columns, shown), columns=[NUMBER_COLUMN, *columns])
    first = (page - 1) * PAGE_SIZE + 1 if shown else 0
    last = first + len(shown) - 1 if shown else 0
    position = f"{say(request, 'dataset.position')}: {first}–{last} / {len(matching)}"
    widths = ["56px"] + [f"{94 // max(1, len(columns))}%"] * len(columns)  # a narrow "#", the text shares the rest
    return gr.update(value=frame, column_widths=widths), shown, page, position


def controls(draft: Draft, numbers: str) -> list:
    """What may be clicked or typed in: nothing acts on no dataset. Undo only with a change to undo, Save
    stands out only with unsaved changes, Delete rows only with row numbers typed (and red then)."""
    ready = is_open(draft)
    usable = ready and bool(draft.rows)
    typed = ready and bool((numbers or "").strip())
    editable = [gr.update(interactive=ready) for _ in range(10)]  # name to Replace all, in the outputs' order
    return [gr.update(interactive=ready, variant="primary" if ready and not draft.saved else "secondary"),
            gr.update(interactive=bool(ready and draft.history)),
            *editable,
            gr.update(interactive=typed, variant="stop" if typed else "secondary"),
            *[gr.update(interactive=usable) for _ in range(4)]]  # select copies, show, split, export


@user_errors
def edit_cells(draft: Draft, frame: pd.DataFrame, shown: list[int], query: str, page: int,
               request: gr.Request | None = None) -> tuple:
    rows, changed = table.apply_table(draft.rows, draft.shape, table_records(frame), shown)
    if not changed:
        return draft, gr.skip(), gr.skip(), gr.skip(), gr.skip()
    edited = draft.edit(rows, "edit")
    if len(rows) == len(draft.rows):  # the table already shows the edit; redrawing it would move the cursor
        return edited, gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return edited, *show_table(edited, query, page, request)  # rows added or deleted in the table get their numbers


@user_errors
def add_row(draft: Draft) -> tuple:
    rows = [*draft.rows, table.blank_row(draft.shape)]
    return draft.edit(rows, "add"), "", (len(rows) - 1) // PAGE_SIZE + 1  # the last page shows it


@user_errors
def delete(draft: Draft, numbers: str) -> tuple:
    doomed = table.parse_row_numbers(numbers, len(draft.rows))
    return draft.edit(table.delete_rows(draft.rows, doomed), "delete"), ""


@user_errors
def replace_all(draft: Draft, find: str, replacement: str, columns: list[str],
                request: gr.Request | None = None) -> tuple:
    rows, cells = table.replace_text(draft.rows, find, replacement, columns)
    message = f"{say(request, 'dataset.cells_changed')}: {cells}"
    return (draft.edit(rows, "replace") if cells else draft), message


# What the undo message says of each kind of change a draft records.
UNDONE = {"edit": "dataset.undone_edit", "add": "dataset.undone_add", "delete": "dataset.undone_delete",
          "replace": "dataset.undone_replace"}


@user_errors
def undo(draft: Draft, request: gr.Request | None = None) -> tuple:
    draft, change = draft.undo()
    return draft, say(request, UNDONE[change])


@user_errors
@short_problem_lists
def save(draft: Draft, name: str, request: gr.Request | None = None) -> tuple:
    draft, path = editing.save(draft, name)
    return draft, draft.name, f"{say(request, 'dataset.saved_to')}: `{path}`"


@user_errors
@short_problem_lists
def split(draft: Draft, validation_share: float, seed: int, request: gr.Request | None = None) -> str:
    train_path, train_rows, validation_path, validation_rows = editing.split(draft, validation_share, seed)
    return (f"{say(request, 'dataset.split_written')}: `{train_path.name}` ({train_rows}), "
            f"`{validation_path.name}` ({validation_rows})")


@user_errors
@short_problem_lists
def export(draft: Draft) -> dict:
    return gr.update(value=str(editing.export_for_download(draft)), visible=True)


def clicked_row(shown: list[int], event: gr.SelectData) -> int:
    """The dataset row number of the table cell clicked."""
    return shown[event.index[0]] if event.index[0] < len(shown) else gr.skip()
