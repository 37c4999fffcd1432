"""The Dataset tab: open, upload or start a dataset, edit its rows, check them, split and export them.

Each browser session keeps its own `studio.editing.Draft` (rows, name, shape, undo history) in
gr.State, so two sessions never see each other's unsaved edits. The handlers are thin over
`studio.editing` and take plain values, so tests/ui/test_dataset_tab.py calls them directly.
Whatever a handler writes itself (statuses, the check's report, the upload report) is in the page's
language (`lang.say`); studio's messages go through `common.user_errors` and `i18n.ERRORS_ZH`.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from studio import editing
from studio.config import EMBEDDED_MODEL, RunConfig
from studio.data import MAX_LISTED_PROBLEMS, SHAPES, SUFFIXES, DatasetError, placeholders
from studio.editing import NUMBER_COLUMN, Draft
from studio.models import load_tokenizer, resolve_source
from studio.tokens import length_summary
from studio.ui.common import default_cutoff, error_text, user_errors
from studio.ui.i18n import i18n
from studio.ui.lang import language, say, words

PAGE_SIZE = 100
# The quick handlers that change a draft share one queue, so an edit and a click right after it never race.
# Reading a file (open, upload) replaces the draft whole and may take seconds: it runs beside that queue,
# so one session's large upload never holds up another session's edits.
EDITS = "dataset-edits"
READS = 4  # files read at once, across sessions
TRAINED, PROMPT = "trained", "prompt"
EXAMPLE_COLORS = {TRAINED: "#86efac", PROMPT: "#e5e7eb"}
WITHIN, OVER = "≤", ">"  # the histogram's legend: symbols read the same in every language
HISTOGRAM_COLORS = {WITHIN: "#60a5fa", OVER: "#f87171"}
# Rows whose buttons sit level with the bottom of the boxes beside them, at the buttons' own height
# (Gradio stretches a row's buttons to its tallest box otherwise); the class is styled in studio/ui CSS.
BUTTON_ROW = {"equal_height": False, "elem_classes": "studio-align-end"}


@functools.cache
def embedded_tokenizer():
    """Loaded on first use and shared read-only by every session: a tokenizer holds no one's data."""
    return load_tokenizer(resolve_source(EMBEDDED_MODEL))


def _tokenizer(tokenizer=None):
    try:
        return tokenizer or embedded_tokenizer()
    except Exception as error:  # whatever stops the load (missing files, no memory), the tab goes on without tokens
        raise ValueError(f"The embedded model's tokenizer could not be loaded ({error}).") from error


SHOWN_PROBLEMS = 3  # a toast names the first few; the whole list is on the page
# Gradio offers no call to close its toasts: a success clicks their close buttons.
CLOSE_TOASTS = "() => document.querySelectorAll('[data-testid=\"toast-close\"]').forEach((button) => button.click())"


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
    matching = editing.matching_rows(draft.rows, query)
    shown, page = editing.page_of(matching, page, PAGE_SIZE)
    columns = draft.columns
    frame = pd.DataFrame(editing.table_rows(draft.rows, columns, shown), columns=[NUMBER_COLUMN, *columns])
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
    rows, changed = editing.apply_table(draft.rows, draft.shape, frame.to_dict("records"), shown)
    if not changed:
        return draft, gr.skip(), gr.skip(), gr.skip(), gr.skip()
    edited = draft.edit(rows, "dataset.undone_edit")
    if len(rows) == len(draft.rows):  # the table already shows the edit; redrawing it would move the cursor
        return edited, gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return edited, *show_table(edited, query, page, request)  # rows added or deleted in the table get their numbers


@user_errors
def add_row(draft: Draft) -> tuple:
    rows = [*draft.rows, editing.blank_row(draft.shape)]
    return draft.edit(rows, "dataset.undone_add"), "", (len(rows) - 1) // PAGE_SIZE + 1  # the last page shows it


@user_errors
def delete(draft: Draft, numbers: str) -> tuple:
    doomed = editing.parse_row_numbers(numbers, len(draft.rows))
    return draft.edit(editing.delete_rows(draft.rows, doomed), "dataset.undone_delete"), ""


@user_errors
def replace_all(draft: Draft, find: str, replacement: str, columns: list[str],
                request: gr.Request | None = None) -> tuple:
    rows, cells = editing.replace_text(draft.rows, find, replacement, columns)
    message = f"{say(request, 'dataset.cells_changed')}: {cells}"
    return (draft.edit(rows, "dataset.undone_replace") if cells else draft), message


@user_errors
def undo(draft: Draft, request: gr.Request | None = None) -> tuple:
    draft, change = draft.undo()
    return draft, say(request, change)


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


def check(draft: Draft, request: gr.Request | None = None) -> tuple:
    """Counts, problems by row and field (as `studio data check` lists them) and duplicate prompts, in the
    page's language."""
    problems = editing.find_problems(draft.rows, draft.shape)
    found = placeholders(draft.rows)
    listed = [error_text(str(problem), language(request)) for problem in problems[:MAX_LISTED_PROBLEMS]]
    if len(problems) > MAX_LISTED_PROBLEMS:
        listed.append(say(request, "dataset.more_problems", count=len(problems) - MAX_LISTED_PROBLEMS))
    if found:
        counted = ", ".join(say(request, "dataset.placeholder_rows", placeholder=placeholder, count=len(numbers))
                            for placeholder, numbers in found.items())
        listed.insert(0, f"⚠ {say(request, 'dataset.placeholders', counted=counted)}")
    groups = editing.duplicate_groups(draft.rows, draft.shape)
    duplicates = "; ".join(" = ".join(map(str, group)) for group in groups)
    note = "" if draft.saved else say(request, "dataset.unsaved")
    return (len(draft.rows), len(problems), "\n".join(listed) or say(request, "dataset.no_problems"),
            duplicates or say(request, "dataset.no_duplicates"), note)


def select_copies(draft: Draft) -> str:
    """The later rows of each duplicate group, typed into the delete box; the first of each stays."""
    return ", ".join(str(number) for group in editing.duplicate_groups(draft.rows, draft.shape) for number in group[1:])


def count_tokens(draft: Draft, cutoff: int, request: gr.Request | None = None, *, tokenizer=None) -> tuple:
    """The token-length histogram against the cut-off, its axes titled in the page's language; without a
    tokenizer, says why instead."""
    cutoff = int(cutoff or default_cutoff())
    problems = editing.find_problems(draft.rows, draft.shape)
    try:
        lengths = editing.token_lengths(draft.rows, draft.shape, _tokenizer(tokenizer), problems)
    except ValueError as error:
        why = error_text(str(error), language(request))
        return plot_of(histogram([], cutoff), request), f"{say(request, 'dataset.no_tokens')}: {why}", None
    summary = length_summary(lengths)
    text = f"{summary['min']} · {summary['mean']} · {summary['p95']} · {summary['max']}"
    return plot_of(histogram(lengths, cutoff), request), text, sum(length > cutoff for length in lengths)


def plot_of(frame: pd.DataFrame, request: gr.Request | None) -> dict:
    return gr.update(value=frame, x_title=say(request, "dataset.axis_tokens"), y_title=say(request, "dataset.axis_rows"))


def histogram(lengths: list[int], cutoff: int) -> pd.DataFrame:
    bins = editing.histogram_bins(lengths, cutoff)
    digits = len(str(bins[-1]["end"])) if bins else 0
    frame = pd.DataFrame({"tokens": [_bin_label(item, digits) for item in bins], "rows": [item["rows"] for item in bins],
                          "side": [OVER if item["over"] else WITHIN for item in bins]})
    # The chart keeps the colours it first saw and never draws a side that appears later: give it both, always.
    missing = [{"tokens": frame["tokens"].iloc[-1], "rows": 0, "side": side}
               for side in (WITHIN, OVER) if bins and side not in set(frame["side"])]
    return pd.concat([frame, pd.DataFrame(missing)], ignore_index=True) if missing else frame


def _bin_label(item: dict, digits: int) -> str:
    """"86–90"; the chart sorts labels as text (and drops new data when told an order), so the first
    number is padded: "  86–90" sorts before "101–105"."""
    first = str(item["start"] + 1).rjust(digits)
    return first if item["end"] == item["start"] + 1 else f"{first}–{item['end']}"


@user_errors
def show_example(draft: Draft, number: int, request: gr.Request | None = None, *,
                 tokenizer=None) -> list[tuple[str, str]]:
    """Row `number` as the chat template renders it, the trained reply marked apart from the masked prompt."""
    pieces = editing.model_view(draft.rows, draft.shape, int(number or 1), _tokenizer(tokenizer))
    return [(text, TRAINED if trained else PROMPT) for text, trained in pieces]


def show_pair(draft: Draft, number: int, request: gr.Request | None = None) -> tuple:
    """A preference row's prompt and its two answers side by side; hidden for other shapes. A row with a
    problem says so in the prompt box rather than in a popup, as a click on the table shows it too."""
    if draft.shape != "preference" or not draft.rows:
        return gr.update(visible=False), "", "", ""
    try:
        prompt, chosen, rejected = editing.pair_texts(draft.rows, int(number or 1))
    except ValueError as error:
        return gr.update(visible=True), error_text(str(error), language(request)), "", ""
    return gr.update(visible=True), prompt, chosen, rejected


def clicked_row(shown: list[int], event: gr.SelectData) -> int:
    """The dataset row number of the table cell clicked."""
    return shown[event.index[0]] if event.index[0] < len(shown) else gr.skip()


def build(manager) -> gr.State:
    """The tab's widgets and events; `manager` is unused: editing a dataset starts no jobs. Returns the
    session's draft, which the Train tab's dataset follows."""
    tab = SimpleNamespace(draft=gr.State(Draft()), shown=gr.State([]), report=gr.State(Report()))
    for section in (_sources, _editor, _checks, _model_view, _pair_view, _split_export):
        section(tab)
    _connect(tab)
    return tab.draft


def _sources(tab) -> None:
    gr.Markdown(i18n("dataset.steps"), elem_id="dataset-steps")
    with gr.Row(equal_height=False):
        with gr.Column(min_width=200):
            tab.sample = gr.Dropdown(editing.sample_files(), value=None, label=i18n("dataset.sample"),
                                     info=i18n("dataset.sample_help"), elem_id="dataset-sample")
            tab.sample_about = gr.Markdown(elem_id="dataset-sample-about")
        with gr.Column(min_width=200):
            tab.saved = gr.Dropdown(editing.workspace_datasets(), value=None, label=i18n("dataset.workspace"),
                                    info=i18n("dataset.workspace_help"), elem_id="dataset-saved")
        with gr.Column(min_width=200):
            tab.new_name = gr.Textbox(label=i18n("dataset.new_name"), placeholder="my-data")
            tab.new_shape = gr.Dropdown([(i18n(f"dataset.shape_name.{shape}"), shape) for shape in SHAPES],
                                        value="instruction", label=i18n("dataset.shape"), elem_id="dataset-new-shape")
            tab.new = gr.Button(i18n("dataset.new"), size="md", elem_id="dataset-new")
        with gr.Column(min_width=200):
            tab.upload = gr.UploadButton(i18n("dataset.upload"), file_types=list(SUFFIXES), variant="primary",
                                         size="md", elem_id="dataset-upload")
            gr.Markdown(i18n("dataset.upload_help"))


def _editor(tab) -> None:
    with gr.Row(**BUTTON_ROW):
        tab.name = gr.Textbox(label=i18n("dataset.name"), scale=3, interactive=False, elem_id="dataset-name")
        tab.shape = gr.Textbox(label=i18n("dataset.shape"), interactive=False, scale=1)
        tab.save = gr.Button(i18n("dataset.save"), variant="secondary", size="md", scale=1, interactive=False,
                             elem_id="dataset-save")
        tab.undo = gr.Button(i18n("dataset.undo"), size="md", scale=1, interactive=False, elem_id="dataset-undo")
    with gr.Row():
        tab.saved_note = gr.Markdown(elem_id="dataset-saved-note")
        tab.message = gr.Markdown(elem_id="dataset-message")
    with gr.Row(equal_height=True):
        tab.search = gr.Textbox(label=i18n("dataset.search"), info=i18n("dataset.search_help"), scale=3,
                                interactive=False, elem_id="dataset-search")
        tab.page = gr.Number(1, label=i18n("dataset.page"), minimum=1, precision=0, scale=1, interactive=False)
        tab.position = gr.Markdown()
    tab.table = gr.Dataframe(pd.DataFrame(columns=[NUMBER_COLUMN]), interactive=False, wrap=True, static_columns=[0],
                             max_height=520, label=i18n("dataset.table"), elem_id="dataset-table")
    with gr.Row(**BUTTON_ROW):
        tab.add = gr.Button(i18n("dataset.add_row"), size="md", scale=1, interactive=False, elem_id="dataset-add")
        tab.delete_numbers = gr.Textbox(label=i18n("dataset.delete_numbers"), placeholder="3, 5-7", scale=2,
                                        interactive=False, elem_id="dataset-delete-numbers")
        tab.delete = gr.Button(i18n("dataset.delete"), variant="secondary", size="md", scale=1, interactive=False,
                               elem_id="dataset-delete")
    with gr.Accordion(i18n("dataset.find_replace"), open=False, elem_id="dataset-find-replace"):
        with gr.Row(**BUTTON_ROW):
            tab.find = gr.Textbox(label=i18n("dataset.find"), placeholder="{{name}}", interactive=False,
                                  elem_id="dataset-find")
            tab.replacement = gr.Textbox(label=i18n("dataset.replace_with"), interactive=False,
                                         elem_id="dataset-replacement")
            tab.columns = gr.Dropdown([], multiselect=True, label=i18n("dataset.in_columns"), interactive=False,
                                      info=i18n("dataset.in_columns_help"))
            tab.replace = gr.Button(i18n("dataset.replace_all"), size="md", interactive=False, elem_id="dataset-replace")


def _checks(tab) -> None:
    gr.Markdown(f"### {i18n('dataset.check')}")
    with gr.Row():
        with gr.Column():
            with gr.Row():
                tab.row_count = gr.Number(label=i18n("dataset.row_count"), interactive=False)
                tab.problem_count = gr.Number(label=i18n("dataset.problem_count"), interactive=False)
            tab.problems = gr.Textbox(label=i18n("dataset.problems"), lines=5, max_lines=12, interactive=False)
            tab.duplicates = gr.Textbox(label=i18n("dataset.duplicates"), interactive=False)
            tab.select_copies = gr.Button(i18n("dataset.select_copies"), size="md", interactive=False)
        with gr.Column():
            with gr.Row():
                tab.cutoff = gr.Number(default_cutoff(), label=i18n("dataset.cutoff"), minimum=1, precision=0)
                tab.over_cutoff = gr.Number(label=i18n("dataset.over_cutoff"), interactive=False)
            tab.plot = gr.BarPlot(x="tokens", y="rows", color="side", color_map=HISTOGRAM_COLORS, color_title="",
                                  x_title=i18n("dataset.axis_tokens"), y_title=i18n("dataset.axis_rows"),
                                  x_label_angle=-40, label=i18n("dataset.histogram"), height=260)
            tab.token_summary = gr.Textbox(label=i18n("dataset.token_summary"), interactive=False)


def _model_view(tab) -> None:
    gr.Markdown(f"### {i18n('dataset.model_view')}")
    gr.Markdown(i18n("dataset.model_view_help"))
    with gr.Row(**BUTTON_ROW):
        tab.example_number = gr.Number(1, label=i18n("dataset.example_row"), minimum=1, precision=0, scale=1)
        tab.show = gr.Button(i18n("dataset.show"), size="md", scale=1, interactive=False)
    tab.example = gr.HighlightedText(color_map=EXAMPLE_COLORS, show_inline_category=False, show_label=False)


def _pair_view(tab) -> None:
    with gr.Group(visible=False) as tab.pair:
        gr.Markdown(f"### {i18n('preference.pair_view')}")
        gr.Markdown(i18n("preference.pair_view_help"))
        tab.pair_prompt = gr.Textbox(label=i18n("preference.prompt"), interactive=False, max_lines=6)
        with gr.Row():
            tab.pair_chosen = gr.Textbox(label=i18n("preference.chosen"), interactive=False, lines=6, max_lines=20,
                                         elem_id="dataset-pair-chosen")
            tab.pair_rejected = gr.Textbox(label=i18n("preference.rejected"), interactive=False, lines=6, max_lines=20,
                                           elem_id="dataset-pair-rejected")


def _split_export(tab) -> None:
    gr.Markdown(f"### {i18n('dataset.split_export')}")
    with gr.Row(**BUTTON_ROW):
        tab.validation_share = gr.Slider(0.05, 0.5, RunConfig().validation_split, step=0.05,
                                         label=i18n("dataset.validation_share"))
        tab.seed = gr.Number(RunConfig().seed, label=i18n("dataset.seed"), precision=0)
        tab.split = gr.Button(i18n("dataset.split"), size="md", interactive=False)
        tab.export = gr.Button(i18n("dataset.export"), size="md", interactive=False)
    tab.export_file = gr.File(label=i18n("dataset.export_file"), interactive=False, visible=False)


def _connect(tab) -> None:
    opened_outputs = [tab.draft, tab.name, tab.shape, tab.search, tab.page, tab.columns, tab.delete_numbers, tab.saved,
                      tab.sample]
    table_outputs = [tab.table, tab.shown, tab.page, tab.position]
    token_outputs = [tab.plot, tab.token_summary, tab.over_cutoff]
    # Progress and failures show on the one-line message, not as "Error" badges over every field the event fills.
    edit = {"concurrency_id": EDITS, "concurrency_limit": 1, "show_progress_on": tab.message}

    def refreshed(event, redraw=True):
        """After the rows change: the table (unless the edit came from it), the checks, then the tokens."""
        if redraw:
            event = event.then(show_table, [tab.draft, tab.search, tab.page], table_outputs)
        event = event.then(check, tab.draft, [tab.row_count, tab.problem_count, tab.problems, tab.duplicates,
                                              tab.saved_note])
        return event.then(count_tokens, [tab.draft, tab.cutoff], token_outputs)

    read = {"concurrency_limit": READS, "show_progress_on": tab.message}
    events = [tab.saved.input(open_saved, tab.saved, opened_outputs, **read),
              tab.sample.input(open_sample, tab.sample, opened_outputs, **read),
              tab.new.click(create, [tab.new_name, tab.new_shape], opened_outputs, **edit)]
    uploaded = tab.upload.upload(upload, [tab.upload, tab.report], opened_outputs, **read)
    uploaded.failure(show_report, tab.report, tab.message)
    for event in [*events, uploaded]:
        event.success(None, js=CLOSE_TOASTS)
        refreshed(event)
    uploaded.then(saved_choices, None, tab.saved)
    tab.sample.change(describe_sample, tab.sample, tab.sample_about, show_progress="hidden")
    # Which controls act: they follow the draft (open or not, changes to undo or save) and the rows to delete.
    gr.on([tab.draft.change, tab.delete_numbers.change], controls, [tab.draft, tab.delete_numbers],
          [tab.save, tab.undo, tab.name, tab.search, tab.page, tab.table, tab.add, tab.delete_numbers, tab.find,
           tab.replacement, tab.columns, tab.replace, tab.delete, tab.select_copies, tab.show, tab.split, tab.export],
          show_progress="hidden")
    refreshed(tab.table.input(edit_cells, [tab.draft, tab.table, tab.shown, tab.search, tab.page],
                              [tab.draft, *table_outputs], **edit), redraw=False)
    refreshed(tab.add.click(add_row, tab.draft, [tab.draft, tab.search, tab.page], **edit))
    refreshed(tab.delete.click(delete, [tab.draft, tab.delete_numbers], [tab.draft, tab.delete_numbers], **edit))
    refreshed(tab.replace.click(replace_all, [tab.draft, tab.find, tab.replacement, tab.columns],
                                [tab.draft, tab.message], **edit))
    refreshed(tab.undo.click(undo, tab.draft, [tab.draft, tab.message], **edit))
    saved = tab.save.click(save, [tab.draft, tab.name], [tab.draft, tab.name, tab.message], **edit)
    saved.success(None, js=CLOSE_TOASTS)
    refreshed(saved).then(saved_choices, None, tab.saved)
    tab.split.click(split, [tab.draft, tab.validation_share, tab.seed], tab.message).then(saved_choices, None, tab.saved)
    tab.export.click(export, tab.draft, tab.export_file)
    tab.saved.focus(saved_choices, None, tab.saved)
    gr.on([tab.search.submit, tab.page.input], show_table, [tab.draft, tab.search, tab.page], table_outputs)
    tab.select_copies.click(select_copies, tab.draft, tab.delete_numbers)
    tab.cutoff.input(count_tokens, [tab.draft, tab.cutoff], token_outputs)
    gr.on([tab.show.click, tab.example_number.submit], show_example, [tab.draft, tab.example_number], tab.example)
    pair_outputs = [tab.pair, tab.pair_prompt, tab.pair_chosen, tab.pair_rejected]
    gr.on([tab.show.click, tab.example_number.submit, tab.draft.change], show_pair, [tab.draft, tab.example_number],
          pair_outputs, show_progress="hidden")
    tab.table.select(clicked_row, tab.shown, tab.example_number).then(
        show_pair, [tab.draft, tab.example_number], pair_outputs, show_progress="hidden")
