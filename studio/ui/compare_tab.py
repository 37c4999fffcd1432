"""The Compare tab: a finished run beside its base model, where a user sees and shows what tuning did.

One prompt answered by base and tuned side by side (same settings and seed), streaming, and the
same prompt over a grid of temperatures; blind mode (answers A and B in random order, a vote,
a tally kept in the run folder, reveal) and the votes made into a preference or KTO dataset;
batch compare over a dataset's rows with metrics per row and in total, as CSV and Markdown; and a
general-knowledge check of what tuning moved. A reward model run, when one is chosen, scores the
answers beside them, in the grid and in batch compare.
The three tools sit in tabs of their own, so each is a click away on a laptop screen. The long
ones (grid, batch, knowledge) fill their tables in as the answers come, say how far they are and
about how long is left, and can be cancelled.

This module lays the page out and wires it; the handlers are in `compare_handlers` and `compare_votes`.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from studio.compare import MAX_ANSWER_TOKENS, MAX_BATCH_ROWS
from studio.config import SAMPLES_DIR
from studio.jobs import JobManager
from studio.ui.common import StopSignal, bind, precision_dropdown, run_name, settings_widgets
from studio.ui.compare_handlers import (
    GRID_WIDTHS, ROWS_WIDTHS, VOTES_OFF, answering, batch, batch_datasets, busy, cancelled, compare,
    compare_started, current_tally, general, general_frame, grid_frame, no_speeds, page_loaded, reveal, rows_frame,
    stop_answers, switch_mode, temperature_grid, totals_frame, vote,
)
from studio.ui.compare_votes import (
    kind_choices, make_votes_dataset, no_scores, reward_choices, reward_update, score_pair, tuned_choices,
    tuned_update,
)
from studio.ui.i18n import i18n

GRID_TEMPERATURES = (0.0, 0.7, 1.2)
DEFAULT_DATASET = str(SAMPLES_DIR / "reviews-test.jsonl")  # a choice value: the file path
BATCH_LIMIT = 20
LONG_TEXT = 160  # characters a cell shows of a long prompt or answer; a click on the cell shows it all


def open_run(manager: JobManager, run_path: str | None) -> tuple:
    """From the Train tab: this tab, with the run it followed selected."""
    return gr.Tabs(selected="compare"), tuned_update(manager, run_name(run_path))


def long_operation(start: gr.Button, cancel: gr.Button, status: gr.Markdown, handler, inputs: list, outputs: list):
    """Start runs the handler with Start off and Cancel on; Cancel ends it, and both come back as they were.
    Returns the handler's event."""
    begun = start.click(bind(busy, True), outputs=[start, cancel], queue=False, show_progress="hidden")
    job = begun.then(handler, inputs=inputs, outputs=[status, *outputs], show_progress="hidden")
    job.then(bind(busy, False), outputs=[start, cancel], queue=False, show_progress="hidden")
    cancel.click(cancelled, outputs=[status, start, cancel], cancels=[job], queue=False, show_progress="hidden")
    return job


def action_row(start_key: str, name: str) -> tuple[gr.Button, gr.Button, gr.Markdown]:
    """A start button, its Cancel (off until started) and the progress line beside them."""
    with gr.Row(elem_classes="compare-actions"):
        start = gr.Button(i18n(start_key), variant="primary", scale=0, min_width=160, elem_id=f"compare-{name}-run")
        cancel = gr.Button(i18n("compare.cancel"), interactive=False, scale=0, min_width=100,
                           elem_id=f"compare-{name}-cancel")
        status = gr.Markdown(elem_id=f"compare-{name}-status")
    return start, cancel, status


def build(manager: JobManager, tab: gr.Tab | None = None) -> gr.Dropdown:
    """The tab's widgets and events; returns the run dropdown, which the Train tab's link sets."""
    page = SimpleNamespace(stop=gr.State(StopSignal()), grid_stop=gr.State(StopSignal()))
    page.pair = gr.State(None)  # the last compare's studio.votes.BlindPair, for the vote and the scores
    with gr.Row(equal_height=True):
        page.refresh_runs = gr.Button("↻", size="sm")
        page.run = gr.Dropdown(label=i18n("compare.run"), info=i18n("compare.run_help"), buttons=[page.refresh_runs],
                               elem_id="compare-run", scale=2, **tuned_choices(manager))
        page.reward = gr.Dropdown(label=i18n("compare.reward"), info=i18n("compare.reward_help"), scale=1,
                                  elem_id="compare-reward", **reward_choices(manager))
    with gr.Tabs(elem_id="compare-tools"):
        with gr.Tab(i18n("compare.side_by_side"), id="side", elem_id="compare-side-tab"):
            with gr.Row():
                with gr.Column(scale=3):
                    _side_by_side(page)
                    _grid(page)
                with gr.Column(scale=1, min_width=280):
                    _sampling(page)
        with gr.Tab(i18n("compare.batch"), id="batch", elem_id="compare-batch-tab"):
            _batch(page)
        with gr.Tab(i18n("compare.general"), id="general", elem_id="compare-general-tab"):
            _general(page)
    _wire_page(page, manager, tab)
    _wire_side_by_side(page)
    _wire_long_operations(page)
    return page.run


def _side_by_side(page: SimpleNamespace) -> None:
    """The prompt, Compare and Stop, the two answers, the blind vote's buttons and the tally."""
    # One line that grows: Enter compares, Shift+Enter starts a new line (as in the Chat tab).
    page.prompt = gr.Textbox(label=i18n("compare.prompt"), lines=1, max_lines=8,
                             placeholder=i18n("chat.message_placeholder"), elem_id="compare-prompt")
    with gr.Row():
        page.compare_button = gr.Button(i18n("compare.compare"), variant="primary", elem_id="compare-send")
        page.stop_button = gr.Button(i18n("compare.stop"), interactive=False, elem_id="compare-stop")
    with gr.Row(equal_height=True):
        with gr.Column():
            page.left = gr.Textbox(label=i18n("compare.base"), lines=8, interactive=False, buttons=["copy"],
                                   elem_id="compare-left")
            page.left_score = gr.Markdown(elem_id="compare-left-score")
        with gr.Column():
            page.right = gr.Textbox(label=i18n("compare.tuned"), lines=8, interactive=False, buttons=["copy"],
                                    elem_id="compare-right")
            page.right_score = gr.Markdown(elem_id="compare-right-score")
    page.speeds = gr.Markdown(elem_id="compare-speeds")
    with gr.Row(elem_id="compare-votes", elem_classes=VOTES_OFF) as page.vote_row:
        page.vote_buttons = {choice: gr.Button(i18n(f"compare.vote_{choice.lower()}"),
                                               elem_id=f"compare-vote-{choice.lower()}")
                             for choice in ("A", "B", "tie")}
        page.reveal_button = gr.Button(i18n("compare.reveal"), elem_id="compare-reveal")
    page.tally = gr.Markdown(current_tally(page.run.value), elem_id="compare-tally")
    _votes_data(page)


def _votes_data(page: SimpleNamespace) -> None:
    """Beside the tally: the votes made into a dataset of a kind, under a name, and what was made."""
    with gr.Row(equal_height=False, elem_classes="studio-align-end"):
        page.data_kind = gr.Radio(kind_choices(), value="preference", label=i18n("compare.votes_kind"),
                                  info=i18n("compare.votes_help"), scale=3, elem_id="compare-data-kind")
        page.data_name = gr.Textbox(label=i18n("compare.votes_name"), scale=2,
                                    placeholder=i18n("compare.votes_name_placeholder"), elem_id="compare-data-name")
        page.data_make = gr.Button(i18n("compare.votes_make"), size="md", scale=1, elem_id="compare-data-make")
    page.data_message = gr.Markdown(elem_id="compare-data-message")


def _grid(page: SimpleNamespace) -> None:
    """The same prompt over a grid of temperatures."""
    with gr.Accordion(i18n("compare.grid"), open=False, elem_id="compare-grid-panel"):
        gr.Markdown(i18n("compare.grid_help"))
        with gr.Row():
            page.grid_values = [gr.Number(value, minimum=0, maximum=2, step=0.1, min_width=120,
                                          label=i18n(f"compare.grid_{index}"), elem_id=f"compare-grid-{index}")
                                for index, value in enumerate(GRID_TEMPERATURES, 1)]
        page.grid_button, page.grid_cancel, page.grid_status = action_row("compare.grid_run", "grid")
        page.grid = gr.Dataframe(grid_frame(None), interactive=False, wrap=True, max_chars=LONG_TEXT * 3,
                                 max_height=420, column_widths=GRID_WIDTHS[False], elem_id="compare-grid")


def _sampling(page: SimpleNamespace) -> None:
    """Beside the answers: blind mode, and the sampling settings and system prompt both sides share."""
    page.blind = gr.Checkbox(label=i18n("compare.blind"), info=i18n("compare.blind_help"), elem_id="compare-blind")
    with gr.Accordion(i18n("precision.label"), open=False, elem_id="compare-precision"):
        page.left_model = gr.Radio([(i18n("compare.left_base"), "base"), (i18n("compare.left_tuned"), "tuned")],
                                   value="base", label=i18n("compare.left_column"), info=i18n("compare.left_help"),
                                   elem_id="compare-left-model")
        page.precisions = [precision_dropdown("compare-left-precision", "compare.left_precision", explained=False),
                           precision_dropdown("compare-right-precision", "compare.right_precision", explained=False)]
    with gr.Accordion(i18n("compare.settings"), open=True, elem_id="compare-settings"):
        page.settings = settings_widgets("compare")
        page.system_prompt = gr.Textbox(label=i18n("chat.system_prompt"), info=i18n("chat.system_prompt_help"),
                                        lines=2, elem_id="compare-system-prompt")


def _batch(page: SimpleNamespace) -> None:
    """Batch compare over a dataset's rows: its metrics in total and per row, and the report's downloads."""
    gr.Markdown(i18n("compare.batch_help"))
    with gr.Row(equal_height=True):
        page.batch_dataset = gr.Dropdown(batch_datasets(), value=DEFAULT_DATASET, label=i18n("compare.batch_dataset"),
                                         scale=3, elem_id="compare-batch-dataset")
        page.batch_limit = gr.Number(BATCH_LIMIT, precision=0, minimum=0, maximum=MAX_BATCH_ROWS,
                                     label=i18n("compare.batch_limit"), info=i18n("compare.batch_limit_help"),
                                     elem_id="compare-batch-limit")
        page.batch_tokens = gr.Number(0, precision=0, minimum=0, maximum=MAX_ANSWER_TOKENS,
                                      label=i18n("compare.batch_tokens"), info=i18n("compare.batch_tokens_help"),
                                      elem_id="compare-batch-tokens")
    page.batch_button, page.batch_cancel, page.batch_status = action_row("compare.batch_run", "batch")
    page.batch_reading = gr.Markdown(elem_id="compare-batch-reading")
    page.batch_totals = gr.Dataframe(totals_frame(None), interactive=False, label=i18n("compare.batch_totals"),
                                     column_widths=["28%", "24%", "24%", "24%"], elem_id="compare-batch-totals")
    page.batch_rows = gr.Dataframe(rows_frame(None), interactive=False, wrap=True, max_height=420,
                                   max_chars=LONG_TEXT, label=i18n("compare.batch_rows"),
                                   column_widths=ROWS_WIDTHS[False],
                                   elem_id="compare-batch-rows")
    with gr.Row():
        page.csv_download = gr.DownloadButton(i18n("compare.download_csv"), visible=False,
                                              elem_id="compare-batch-csv")
        page.markdown_download = gr.DownloadButton(i18n("compare.download_markdown"), visible=False,
                                                   elem_id="compare-batch-markdown")


def _general(page: SimpleNamespace) -> None:
    """The general-knowledge check: how far tuning moved answers to everyday prompts."""
    gr.Markdown(i18n("compare.general_help"))
    with gr.Row():
        page.general_tokens = gr.Number(64, precision=0, minimum=1, maximum=MAX_ANSWER_TOKENS, scale=0,
                                        min_width=200, label=i18n("chat.max_new_tokens"),
                                        elem_id="compare-general-tokens")
    page.general_button, page.general_cancel, page.general_status = action_row("compare.general_run", "general")
    with gr.Row(elem_classes="compare-actions"):
        # Shown once measured: an empty number box would read as zero drift.
        page.drift = gr.Number(visible=False, label=i18n("compare.drift"), info=i18n("compare.drift_help"),
                               interactive=False, scale=0, min_width=320, elem_id="compare-drift")
        page.drift_words = gr.Markdown(elem_id="compare-drift-reading")
    page.general_rows = gr.Dataframe(general_frame(None), interactive=False, wrap=True, max_chars=LONG_TEXT * 2,
                                     column_widths=["24%", "33%", "33%", "10%"], elem_id="compare-general")


def _wire_page(page: SimpleNamespace, manager: JobManager, tab: gr.Tab | None) -> None:
    """On load and when the tab is opened: the tables' headers, the runs list, the tally, the datasets list."""
    run = page.run
    # The page's first render cannot know its language: the tally and the tables' headers are written once it
    # loads (for the run it shows).
    gr.on(triggers=None, fn=bind(page_loaded, run.value),
          outputs=[page.tally, page.grid, page.batch_totals, page.batch_rows, page.general_rows],
          show_progress="hidden")
    refresh, rewards = bind(tuned_update, manager), bind(reward_update, manager)
    page.refresh_runs.click(refresh, inputs=run, outputs=run)
    page.refresh_runs.click(rewards, inputs=page.reward, outputs=page.reward)
    if tab is not None:
        # Colleagues' votes since the page opened count too.
        tab.select(refresh, inputs=run, outputs=run, show_progress="hidden").then(
            current_tally, inputs=run, outputs=page.tally, show_progress="hidden")
        tab.select(rewards, inputs=page.reward, outputs=page.reward, show_progress="hidden")
        # Only listed datasets can be read (no typed server paths); the list follows new saves.
        tab.select(lambda value: gr.update(choices=batch_datasets(), value=value), inputs=page.batch_dataset,
                   outputs=page.batch_dataset, show_progress="hidden")
    run.change(current_tally, inputs=run, outputs=page.tally, show_progress="hidden")


def _wire_side_by_side(page: SimpleNamespace) -> None:
    """Compare and Stop, the reward scores, the blind votes and reveal, the switch between blind and open, and
    the votes made into a dataset."""
    run, settings, columns = page.run, page.settings, [page.left, page.right, page.pair, page.vote_row]
    scores = [page.left_score, page.right_score]
    # Stop is red and on only while the two answers stream; Compare is off meanwhile.
    triggers = [page.compare_button.click, page.prompt.submit]
    # The vote buttons hide in the same step, so the hide lands before the answers start: sent on its own, it
    # could land after the last answer's show under load and leave a blind pair without its buttons.
    answers = gr.on(triggers, compare_started, outputs=[page.compare_button, page.stop_button, page.vote_row],
                    queue=False, show_progress="hidden")
    gr.on(triggers, no_scores, outputs=scores, queue=False, show_progress="hidden")
    answered = answers.then(compare, inputs=[run, page.prompt, page.system_prompt, page.blind, *settings, page.stop,
                                             page.left_model, *page.precisions], outputs=[*columns, page.speeds])
    answered.then(
        bind(answering, False), outputs=[page.compare_button, page.stop_button], queue=False, show_progress="hidden")
    answered.success(score_pair, inputs=[page.reward, page.pair], outputs=scores, show_progress_on=scores)
    page.reward.input(score_pair, inputs=[page.reward, page.pair], outputs=scores, show_progress_on=scores)
    page.stop_button.click(stop_answers, inputs=page.stop, queue=False)
    for choice, button in page.vote_buttons.items():
        button.click(bind(vote, choice), inputs=page.pair, outputs=[*columns, page.tally], trigger_mode="once")
    page.reveal_button.click(reveal, inputs=page.pair, outputs=columns)
    # Not queued, so the columns clear before a Compare clicked right after it starts.
    page.blind.change(switch_mode, inputs=page.blind, outputs=columns, queue=False)
    page.blind.change(no_scores, outputs=scores, queue=False, show_progress="hidden")
    page.blind.change(no_speeds, outputs=page.speeds, queue=False, show_progress="hidden", api_visibility="private")
    page.data_make.click(make_votes_dataset, inputs=[run, page.data_kind, page.data_name], outputs=page.data_message)


def _wire_long_operations(page: SimpleNamespace) -> None:
    """The grid, batch and general-knowledge runs, each with its Cancel and progress line."""
    run = page.run
    long_operation(page.grid_button, page.grid_cancel, page.grid_status, temperature_grid,
                   [run, page.prompt, page.system_prompt, *page.grid_values, *page.settings, page.grid_stop,
                    page.reward], [page.grid])
    # The grid's answers stream token by token: its Cancel also ends the answer being written.
    page.grid_cancel.click(stop_answers, inputs=page.grid_stop, queue=False)
    long_operation(page.batch_button, page.batch_cancel, page.batch_status, batch,
                   [run, page.batch_dataset, page.batch_limit, page.batch_tokens, page.reward],
                   [page.batch_reading, page.batch_totals, page.batch_rows, page.csv_download, page.markdown_download])
    long_operation(page.general_button, page.general_cancel, page.general_status, general,
                   [run, page.general_tokens], [page.drift, page.drift_words, page.general_rows])
