"""The Compare tab: a finished run beside its base model, where a user sees and shows what tuning did.

One prompt answered by base and tuned side by side (same settings and seed), streaming; the
same prompt over a grid of temperatures; blind mode (answers A and B in random order, a vote,
a tally kept in the run folder, reveal); batch compare over a dataset's rows with metrics per
row and in total, as CSV and Markdown; and a general-knowledge check of what tuning moved.
"""

from __future__ import annotations

import random
from dataclasses import replace
from functools import partial

import gradio as gr
import pandas as pd

from studio.chat import StopSignal, build_messages, finished_runs, generation_settings, run_label
from studio.compare import (
    GENERAL_PROMPTS, MAX_ANSWER_TOKENS, MAX_BATCH_ROWS, ROW_COLUMNS, SIDES, VALIDATION, batch_compare, blind_order,
    comparison_rows, general_check, headline_metric, record_vote, stream_grid, stream_side_by_side, totals, vote_tally,
    write_report,
)
from studio.config import SAMPLES_DIR
from studio.jobs import JobManager
from studio.ui.chat_tab import settings_widgets, streams_errors
from studio.ui.common import run_name
from studio.ui.i18n import i18n
from studio.ui.train_tab import dataset_choices, shows_errors

GRID_TEMPERATURES = (0.0, 0.7, 1.2)
GRID_COLUMNS = ("temperature", "base", "tuned")
TOTAL_COLUMNS = ("metric", "base", "tuned", "change")
GENERAL_COLUMNS = ("prompt", "base", "tuned", "similarity")
DEFAULT_DATASET = str(SAMPLES_DIR / "reviews-test.jsonl")  # a choice value: the file path
BATCH_LIMIT = 20


def run_choices(manager: JobManager, current: str | None = None) -> dict:
    """The finished runs, newest first, keeping the choice while it is still there."""
    runs = finished_runs(manager.list_runs())
    names = [run.name for run in runs]
    return {"choices": [(run_label(run), run.name) for run in runs],
            "value": current if current in names else (names[0] if names else None)}


def run_update(manager: JobManager, current: str | None = None) -> dict:
    return gr.update(**run_choices(manager, current))


def open_run(manager: JobManager, run_path: str | None) -> tuple:
    """From the Train tab: this tab, with the run it followed selected."""
    return gr.Tabs(selected="compare"), run_update(manager, run_name(run_path))


def batch_datasets() -> list[tuple[str, str]]:
    return [(i18n("compare.validation_rows"), VALIDATION), *dataset_choices()]


def column_labels(order: tuple[str, str], blind: bool, revealed: bool = False) -> list[dict]:
    """Labels of the two answer columns: base and tuned, or A and B until revealed."""
    if not blind:
        return [gr.update(label=i18n("compare.base")), gr.update(label=i18n("compare.tuned"))]
    if not revealed:
        return [gr.update(label=i18n("compare.answer_a")), gr.update(label=i18n("compare.answer_b"))]
    return [gr.update(label=i18n(f"compare.{letter}_is_{side}")) for letter, side in zip("ab", order)]


@streams_errors
def compare(run: str, prompt: str, system_prompt: str, blind: bool, *values):
    """Stream both answers into the two columns; in blind mode, in an order the user cannot see."""
    *settings_values, stop = values
    settings = generation_settings(*settings_values)
    stop.clear()
    order = blind_order() if blind else SIDES
    if blind:
        # A fresh draw: with the seed of an open compare a moment ago, the "blind" answers would be the ones
        # just read with their labels. The seed drawn goes into the vote, so the pair can be made again.
        settings = replace(settings, seed=random.randrange(2**32))
        order = (*order, settings.seed)
    messages = build_messages(system_prompt, [], [], prompt or "")
    labels = column_labels(order, blind)
    for base_text, tuned_text in stream_side_by_side(run, messages, settings, stop):
        texts = dict(zip(SIDES, (base_text, tuned_text)))
        # The vote buttons wait for the whole answers: a vote is for what was read, and a later
        # stream update would cover the reveal.
        yield ({**labels[0], "value": texts[order[0]]}, {**labels[1], "value": texts[order[1]]},
               order if blind else None, gr.update(visible=False))
    yield gr.skip(), gr.skip(), gr.skip(), gr.update(visible=blind)


@shows_errors
def vote(choice: str, run: str, order, prompt: str, *settings_values) -> list:
    """Count the vote in the run's tally, then reveal which answer was which."""
    tally = record_vote(run, choice, order, prompt, generation_settings(*settings_values))
    return [*column_labels(order, True, revealed=True), None, gr.update(visible=False), *tally_values(tally)]


def switch_mode(blind: bool) -> list:
    """A new mode starts with empty columns, so no answer keeps a label it no longer has."""
    return [{**label, "value": ""} for label in column_labels(SIDES, blind)] + [None, gr.update(visible=False)]


def reveal(order) -> list:
    """Show which answer was which without voting (no vote is counted for this pair afterwards)."""
    if not order:
        return [gr.skip(), gr.skip(), None, gr.update(visible=False)]
    return [*column_labels(order, True, revealed=True), None, gr.update(visible=False)]


def tally_values(tally: dict) -> list[int]:
    return [tally["tuned"], tally["base"], tally["tie"]]


def current_tally(run: str | None) -> list:
    if not run:
        return [0, 0, 0]
    try:
        return tally_values(vote_tally(run))
    except ValueError:  # a run deleted or unfinished since the list was drawn
        return [0, 0, 0]


def stop_answers(stop: StopSignal) -> None:
    stop.set()


@streams_errors
def temperature_grid(run: str, prompt: str, system_prompt: str, first, second, third, *values):
    *settings_values, stop = values
    settings = generation_settings(*settings_values)
    stop.clear()
    messages = build_messages(system_prompt, [], [], prompt or "")
    for rows in stream_grid(run, messages, settings, [first, second, third], stop):
        yield pd.DataFrame(rows, columns=GRID_COLUMNS)


@shows_errors
def batch(run: str, dataset: str, limit, max_new_tokens) -> list:
    """Base and tuned on the same rows: which metric to read, totals, rows, and the two downloads."""
    result = batch_compare(run, dataset, int(limit or 0), int(max_new_tokens or 0) or None)
    csv_path, markdown_path = write_report(result)
    metric = headline_metric(result)
    shown = ["row", "prompt", "reference", "base", "tuned", f"base_{metric}", f"tuned_{metric}"]
    rows = pd.DataFrame(comparison_rows(result))[shown]
    ordered = sorted(totals(result), key=lambda row: row["metric"] != metric)
    return [i18n(f"compare.read_{metric}"), pd.DataFrame(ordered, columns=TOTAL_COLUMNS), rows,
            gr.update(value=str(csv_path), visible=True), gr.update(value=str(markdown_path), visible=True)]


@shows_errors
def general(run: str, max_new_tokens) -> list:
    result = general_check(run, int(max_new_tokens or 64))
    return [gr.update(value=result["drift"], visible=True), i18n(f"compare.drift_reading.{drift_level(result['drift'])}"),
            pd.DataFrame(result["rows"], columns=GENERAL_COLUMNS)]


DRIFT_LEVELS = ((0.3, "small"), (0.6, "moderate"), (1.0, "large"))


def drift_level(drift: float) -> str:
    """How to read a drift: small (everyday answers much as before), moderate, or large (tuning changed them)."""
    return next((level for limit, level in DRIFT_LEVELS if drift <= limit), "large")


def build(manager: JobManager, tab: gr.Tab | None = None) -> gr.Dropdown:
    """The tab's widgets and events; returns the run dropdown, which the Train tab's link sets."""
    stop = gr.State(StopSignal())
    order = gr.State(None)
    with gr.Row():
        with gr.Column(scale=3):
            with gr.Row(equal_height=True):
                refresh_runs = gr.Button("↻", size="sm")
                run = gr.Dropdown(label=i18n("compare.run"), info=i18n("compare.run_help"), buttons=[refresh_runs],
                                  scale=3, elem_id="compare-run", **run_choices(manager))
                blind = gr.Checkbox(label=i18n("compare.blind"), info=i18n("compare.blind_help"), scale=1,
                                    elem_id="compare-blind")
            # One line that grows: Enter compares, Shift+Enter starts a new line (as in the Chat tab).
            prompt = gr.Textbox(label=i18n("compare.prompt"), lines=1, max_lines=8,
                                placeholder=i18n("chat.message_placeholder"), elem_id="compare-prompt")
            with gr.Row():
                compare_button = gr.Button(i18n("compare.compare"), variant="primary", elem_id="compare-send")
                stop_button = gr.Button(i18n("compare.stop"), variant="stop", elem_id="compare-stop")
            with gr.Row(equal_height=True):
                left = gr.Textbox(label=i18n("compare.base"), lines=10, interactive=False, buttons=["copy"],
                                  elem_id="compare-left")
                right = gr.Textbox(label=i18n("compare.tuned"), lines=10, interactive=False, buttons=["copy"],
                                   elem_id="compare-right")
            with gr.Row(visible=False, elem_id="compare-votes") as vote_row:
                vote_buttons = {choice: gr.Button(i18n(f"compare.vote_{choice.lower()}"), elem_id=f"compare-vote-{choice.lower()}")
                                for choice in ("A", "B", "tie")}
                reveal_button = gr.Button(i18n("compare.reveal"), elem_id="compare-reveal")
            with gr.Row():
                tally = [gr.Number(value, label=i18n(f"compare.tally_{name}"), interactive=False, elem_id=f"compare-tally-{name}")
                         for name, value in zip(("tuned", "base", "tie"), current_tally(run.value))]
        with gr.Column(scale=2, min_width=300):
            settings = settings_widgets("compare")
            system_prompt = gr.Textbox(label=i18n("chat.system_prompt"), info=i18n("chat.system_prompt_help"),
                                       lines=2, elem_id="compare-system-prompt")
    with gr.Accordion(i18n("compare.grid"), open=True, elem_id="compare-grid-panel"):
        gr.Markdown(i18n("compare.grid_help"))
        with gr.Row(equal_height=True):
            grid_values = [gr.Number(value, minimum=0, maximum=2, step=0.1, label=i18n(f"compare.grid_{index}"),
                                     elem_id=f"compare-grid-{index}") for index, value in enumerate(GRID_TEMPERATURES, 1)]
            grid_button = gr.Button(i18n("compare.grid_run"), elem_id="compare-grid-run")
        grid = gr.Dataframe(pd.DataFrame(columns=GRID_COLUMNS), interactive=False, wrap=True,
                            column_widths=["12%", "44%", "44%"], elem_id="compare-grid")
    with gr.Accordion(i18n("compare.batch"), open=True, elem_id="compare-batch-panel"):
        gr.Markdown(i18n("compare.batch_help"))
        with gr.Row(equal_height=True):
            batch_dataset = gr.Dropdown(batch_datasets(), value=DEFAULT_DATASET, label=i18n("compare.batch_dataset"),
                                        scale=3, elem_id="compare-batch-dataset")
            batch_limit = gr.Number(BATCH_LIMIT, precision=0, minimum=0, maximum=MAX_BATCH_ROWS, label=i18n("compare.batch_limit"),
                                    info=i18n("compare.batch_limit_help"), elem_id="compare-batch-limit")
            batch_tokens = gr.Number(0, precision=0, minimum=0, maximum=MAX_ANSWER_TOKENS, label=i18n("compare.batch_tokens"),
                                     info=i18n("compare.batch_tokens_help"), elem_id="compare-batch-tokens")
            batch_button = gr.Button(i18n("compare.batch_run"), elem_id="compare-batch-run")
        batch_reading = gr.Markdown(elem_id="compare-batch-reading")
        batch_totals = gr.Dataframe(pd.DataFrame(columns=TOTAL_COLUMNS), interactive=False,
                                    label=i18n("compare.batch_totals"), elem_id="compare-batch-totals")
        batch_rows = gr.Dataframe(pd.DataFrame(columns=ROW_COLUMNS[:5]), interactive=False, wrap=True, max_height=420,
                                  label=i18n("compare.batch_rows"), elem_id="compare-batch-rows")
        with gr.Row():
            csv_download = gr.DownloadButton(i18n("compare.download_csv"), visible=False, elem_id="compare-batch-csv")
            markdown_download = gr.DownloadButton(i18n("compare.download_markdown"), visible=False,
                                                  elem_id="compare-batch-markdown")
    with gr.Accordion(i18n("compare.general"), open=True, elem_id="compare-general-panel"):
        gr.Markdown(i18n("compare.general_help"))
        with gr.Row(equal_height=True):
            general_tokens = gr.Number(64, precision=0, minimum=1, maximum=MAX_ANSWER_TOKENS, label=i18n("chat.max_new_tokens"),
                                       elem_id="compare-general-tokens")
            # Shown once measured: an empty number box would read as zero drift.
            drift = gr.Number(visible=False, label=i18n("compare.drift"), info=i18n("compare.drift_help"),
                              interactive=False, elem_id="compare-drift")
            drift_reading = gr.Markdown(elem_id="compare-drift-reading")
            general_button = gr.Button(i18n("compare.general_run"), elem_id="compare-general-run")
        general_rows = gr.Dataframe(pd.DataFrame([[prompt, "", "", None] for prompt in GENERAL_PROMPTS],
                                                 columns=GENERAL_COLUMNS),
                                    interactive=False, wrap=True, elem_id="compare-general")

    refresh = partial(run_update, manager)
    refresh_runs.click(refresh, inputs=run, outputs=run)
    if tab is not None:
        # Colleagues' votes since the page opened count too.
        tab.select(refresh, inputs=run, outputs=run, show_progress="hidden").then(
            current_tally, inputs=run, outputs=tally, show_progress="hidden")
        # Only listed datasets can be read (no typed server paths); the list follows new saves.
        tab.select(lambda value: gr.update(choices=batch_datasets(), value=value), inputs=batch_dataset,
                   outputs=batch_dataset, show_progress="hidden")
    run.change(current_tally, inputs=run, outputs=tally, show_progress="hidden")
    gr.on([compare_button.click, prompt.submit], compare, inputs=[run, prompt, system_prompt, blind, *settings, stop],
          outputs=[left, right, order, vote_row])
    stop_button.click(stop_answers, inputs=stop, queue=False)
    for choice, button in vote_buttons.items():
        button.click(partial(vote, choice), inputs=[run, order, prompt, *settings],
                     outputs=[left, right, order, vote_row, *tally], trigger_mode="once")
    reveal_button.click(reveal, inputs=order, outputs=[left, right, order, vote_row])
    # Not queued, so the columns clear before a Compare clicked right after it starts.
    blind.change(switch_mode, inputs=blind, outputs=[left, right, order, vote_row], queue=False)
    grid_button.click(temperature_grid, inputs=[run, prompt, system_prompt, *grid_values, *settings, stop],
                      outputs=grid)
    batch_button.click(batch, inputs=[run, batch_dataset, batch_limit, batch_tokens],
                       outputs=[batch_reading, batch_totals, batch_rows, csv_download, markdown_download])
    general_button.click(general, inputs=[run, general_tokens], outputs=[drift, drift_reading, general_rows])
    return run
