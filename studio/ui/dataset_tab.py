"""The Dataset tab's page: open, upload or start a dataset, edit its rows, check them, split and export them.

This module lays the page out in sections and wires their events; the handlers live beside it:
`dataset_edit` (opening, the table and its edits, save, split, export) and `dataset_checks` (the check,
token lengths, the model's view of a row, the preference pair view). Labels are i18n keys that Gradio
translates.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pandas as pd

from studio import editing
from studio.config import RunConfig
from studio.datafile import SUFFIXES
from studio.editing import Draft
from studio.shapes import SHAPES
from studio.table import NUMBER_COLUMN
from studio.ui.common import default_cutoff
from studio.ui.dataset_checks import (
    EXAMPLE_COLORS, HISTOGRAM_COLORS, check, count_tokens, select_copies, show_example, show_pair,
)
from studio.ui.dataset_edit import (
    Report, add_row, clicked_row, controls, create, delete, describe_sample, edit_cells, export, open_sample,
    open_saved, replace_all, save, saved_choices, show_report, show_table, split, undo, upload,
)
from studio.ui.i18n import i18n

# The quick handlers that change a draft share one queue, so an edit and a click right after it never race.
# Reading a file (open, upload) replaces the draft whole and may take seconds: it runs beside that queue,
# so one session's large upload never holds up another session's edits.
EDITS = "dataset-edits"
READS = 4  # files read at once, across sessions
# Rows whose buttons sit level with the bottom of the boxes beside them, at the buttons' own height
# (Gradio stretches a row's buttons to its tallest box otherwise); the class is styled in studio/ui CSS.
BUTTON_ROW = {"equal_height": False, "elem_classes": "studio-align-end"}
# Gradio offers no call to close its toasts: a success clicks their close buttons.
CLOSE_TOASTS = "() => document.querySelectorAll('[data-testid=\"toast-close\"]').forEach((button) => button.click())"


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
