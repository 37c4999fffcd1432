"""The Methods tab: which method (or which value of one setting) to use, answered by training a few on the same
data and reading them side by side.

A new comparison (dataset, preset, what varies and its values, the held-out rows, the model and steps, a name)
is queued as one run per method or value; the queue shows what trains and what waits, and a waiting run can be
taken out; the view shows a saved comparison, or finished runs picked by hand, as overlaid loss curves, a table,
a reading of the numbers and a report to download, and follows runs still queued or training.

This module lays the page out and wires it; the handlers are in `methods_queue` (the form and the queue) and
`methods_view` (the view and the report). Labels are i18n keys that Gradio translates.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from studio.config import METHODS, list_presets, load_config
from studio.jobs import JobManager
from studio.ui.common import bind, dataset_choices, default_preset
from studio.ui.i18n import i18n
from studio.ui.methods_queue import (
    DEFAULT_HELDOUT_ROWS, DEFAULT_METHODS, HELDOUT_ROWS, HELDOUT_VALIDATION, SUGGESTED, experiment_choices,
    heldout_choices, queue_comparison, queue_frame, queue_tick, queue_view, refreshed_form, remove_waiting,
    variable_choices, variable_view,
)
from studio.ui.methods_view import (
    COLUMN_WIDTHS, make_report, refreshed_lists, run_choices, show_view, source_view, table, view_tick,
)

TICK_SECONDS = 3.0
DEFAULT_DATASET = "samples/reviews-train.jsonl"  # the Train tab's first dataset, by its label


def build(manager: JobManager, tab: gr.Tab | None = None) -> SimpleNamespace:
    """The tab's widgets and events; `tab`, when given, refreshes the lists each time it is opened."""
    page = SimpleNamespace(queue_shown=gr.State(None), view_shown=gr.State(None))
    gr.Markdown(i18n("methods.intro"), elem_id="methods-intro")
    with gr.Row():
        with gr.Column(scale=3):
            _new_comparison(page)
        with gr.Column(scale=2):
            _queue(page, manager)
    _view(page, manager)
    page.timer = gr.Timer(TICK_SECONDS)
    _wire_form(page, tab)
    _wire_queue(page, manager)
    _wire_view(page, manager, tab)
    return page


def _new_comparison(page: SimpleNamespace) -> None:
    """The form of a new comparison and its Queue button, with the line that says what makes it fair."""
    preset = default_preset()
    choices = dataset_choices()
    dataset = next((value for label, value in choices if label == DEFAULT_DATASET), choices[0][1] if choices else None)
    with gr.Group():
        gr.Markdown(i18n("methods.new"))
        with gr.Row():
            page.dataset = gr.Dropdown(choices, value=dataset, label=i18n("methods.dataset"),
                                       info=i18n("methods.dataset_help"), scale=2, elem_id="methods-dataset")
            page.preset = gr.Dropdown(list_presets(), value=preset, label=i18n("methods.preset"),
                                      info=i18n("methods.preset_help"), scale=1, elem_id="methods-preset")
        page.variable = gr.Dropdown(variable_choices(), value="method", label=i18n("methods.variable"),
                                    info=i18n("methods.variable_help"), elem_id="methods-variable")
        page.methods = gr.CheckboxGroup(list(METHODS), value=list(DEFAULT_METHODS), label=i18n("methods.methods"),
                                        info=i18n("methods.methods_help"), elem_id="methods-methods")
        page.values = gr.Textbox(SUGGESTED["learning_rate"], label=i18n("methods.values"),
                                 info=i18n("methods.values_help"), visible=False, max_length=400,
                                 elem_id="methods-values")
        with gr.Row():
            page.heldout = gr.Dropdown(heldout_choices(), value=HELDOUT_VALIDATION, label=i18n("methods.heldout"),
                                       info=i18n("methods.heldout_help"), scale=2, elem_id="methods-heldout")
            page.heldout_rows = gr.Number(DEFAULT_HELDOUT_ROWS, precision=0, minimum=HELDOUT_ROWS[0],
                                          maximum=HELDOUT_ROWS[1], label=i18n("methods.heldout_rows"),
                                          info=i18n("methods.heldout_rows_help"), scale=1,
                                          elem_id="methods-heldout-rows")
        with gr.Accordion(i18n("methods.more"), open=False, elem_id="methods-more"):
            with gr.Row():
                page.base_model = gr.Textbox(load_config(preset).base_model, label=i18n("methods.base_model"),
                                             info=i18n("methods.base_model_help"), scale=2,
                                             elem_id="methods-base-model")
                page.max_steps = gr.Number(0, precision=0, minimum=0, label=i18n("methods.max_steps"),
                                           info=i18n("methods.max_steps_help"), scale=1, elem_id="methods-max-steps")
        page.name = gr.Textbox(label=i18n("methods.name"), placeholder=i18n("methods.name_placeholder"),
                               info=i18n("methods.name_help"), max_length=40, elem_id="methods-name")
    gr.Markdown(i18n("methods.fair"), elem_id="methods-fair")
    page.queue_button = gr.Button(i18n("methods.queue_button"), variant="primary", elem_id="methods-queue")
    page.message = gr.Markdown(elem_id="methods-message")


def _queue(page: SimpleNamespace, manager: JobManager) -> None:
    """The run training and the runs waiting, and a waiting run taken out."""
    page.queue = gr.Dataframe(queue_frame(manager), label=i18n("methods.queue"), interactive=False, wrap=True,
                              max_height=320, column_widths=["8%", "38%", "16%", "16%", "22%"],
                              elem_id="methods-queue-table")
    with gr.Row(elem_classes=["studio-align-end"]):
        page.waiting = gr.Dropdown([], label=i18n("methods.queue_run"), info=i18n("methods.queue_run_help"),
                                   interactive=False, scale=3, elem_id="methods-waiting")
        page.remove_button = gr.Button(i18n("methods.remove"), size="md", scale=1, elem_id="methods-remove")
    page.queue_message = gr.Markdown(elem_id="methods-queue-message")


def _view(page: SimpleNamespace, manager: JobManager) -> None:
    """A saved comparison or runs picked by hand; the loss charts, the table, the reading and the report."""
    gr.Markdown(i18n("methods.view"))
    comparisons = experiment_choices()
    with gr.Row(equal_height=True):
        page.source = gr.Radio([(i18n("methods.source.experiment"), "experiment"), (i18n("methods.source.runs"), "runs")],
                               value="experiment", label=i18n("methods.source"), scale=1, elem_id="methods-source")
        page.refresh = gr.Button("↻", size="sm")
        page.experiment = gr.Dropdown(comparisons, value=comparisons[0][1] if comparisons else None,
                                      label=i18n("methods.experiment"), info=i18n("methods.experiment_help"),
                                      buttons=[page.refresh], scale=3, elem_id="methods-experiment")
        page.runs = gr.Dropdown(run_choices(manager), value=[], multiselect=True, label=i18n("methods.runs"),
                                info=i18n("methods.runs_help"), visible=False, scale=3, elem_id="methods-runs")
    with gr.Row():
        page.train_chart = gr.HTML(label=i18n("methods.chart.train"), show_label=True, container=True,
                                   elem_id="methods-train-chart")
        page.eval_chart = gr.HTML(label=i18n("methods.chart.eval"), show_label=True, container=True,
                                  elem_id="methods-eval-chart")
    page.table = gr.Dataframe(table([]), label=i18n("methods.table"), interactive=False, wrap=True,
                              column_widths=COLUMN_WIDTHS, elem_id="methods-table")
    with gr.Group():
        gr.Markdown(i18n("methods.reading"))
        page.reading = gr.Markdown(i18n("methods.reading_none"), elem_id="methods-reading")
    with gr.Row():
        page.report_button = gr.Button(i18n("methods.report"), size="md", elem_id="methods-report")
        page.download = gr.DownloadButton(i18n("methods.download"), variant="primary", size="md", visible=False,
                                          elem_id="methods-download")


def _wire_form(page: SimpleNamespace, tab: gr.Tab | None) -> None:
    """What varies shows its own field; Queue queues the comparison and the view turns to it."""
    page.variable.change(variable_view, inputs=page.variable, outputs=[page.methods, page.values],
                         show_progress="hidden")
    form = [page.dataset, page.heldout, page.preset]
    gr.on(triggers=None, fn=refreshed_form, outputs=form, show_progress="hidden")
    if tab is not None:
        tab.select(refreshed_form, outputs=form, show_progress="hidden")
    page.queued = page.queue_button.click(
        queue_comparison, inputs=[page.dataset, page.preset, page.variable, page.methods, page.values, page.heldout,
                                  page.heldout_rows, page.base_model, page.max_steps, page.name],
        outputs=[page.message, page.source, page.experiment], api_name="queue_comparison")
    page.queued.success(lambda: "", outputs=page.name, show_progress="hidden")


def _wire_queue(page: SimpleNamespace, manager: JobManager) -> None:
    """The queue on load, on each tick where it changed, after a queue and after a removal."""
    queue_outputs = [page.queue_shown, page.queue, page.waiting]
    gr.on(triggers=None, fn=bind(queue_view, manager), outputs=queue_outputs, show_progress="hidden")
    page.timer.tick(bind(queue_tick, manager), inputs=page.queue_shown, outputs=queue_outputs,
                    show_progress="hidden")
    page.queued.success(bind(queue_view, manager), outputs=queue_outputs, show_progress="hidden")
    page.remove_button.click(bind(remove_waiting, manager), inputs=page.waiting,
                             outputs=[page.queue_message, *queue_outputs], api_name="remove_waiting")


def _wire_view(page: SimpleNamespace, manager: JobManager, tab: gr.Tab | None) -> None:
    """The view follows its choice, the timer (while its runs are live) and the lists; the report on demand."""
    choice = [page.source, page.experiment, page.runs]
    view = [page.view_shown, page.train_chart, page.eval_chart, page.table, page.reading, page.download]
    show = dict(fn=bind(show_view, manager), inputs=choice, outputs=view, show_progress="hidden")
    page.source.change(source_view, inputs=page.source, outputs=[page.experiment, page.runs], show_progress="hidden")
    gr.on([page.source.change, page.experiment.change, page.runs.change], trigger_mode="always_last",
          api_name="show_comparison", **show)
    gr.on(triggers=None, **show)
    page.timer.tick(bind(view_tick, manager), inputs=[*choice, page.view_shown], outputs=view,
                    show_progress="hidden")
    lists = dict(fn=bind(refreshed_lists, manager), inputs=[page.experiment, page.runs],
                 outputs=[page.experiment, page.runs], show_progress="hidden")
    page.refresh.click(**lists)
    gr.on(triggers=None, **lists)
    if tab is not None:
        tab.select(**lists)
    page.report_button.click(make_report, inputs=choice, outputs=page.download, api_name="comparison_report")
