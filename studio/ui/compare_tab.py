"""The Compare tab: a finished run beside its base model, where a user sees and shows what tuning did.

One prompt answered by base and tuned side by side (same settings and seed), streaming, and the
same prompt over a grid of temperatures; blind mode (answers A and B in random order, a vote,
a tally kept in the run folder, reveal); batch compare over a dataset's rows with metrics per
row and in total, as CSV and Markdown; and a general-knowledge check of what tuning moved.
The three tools sit in tabs of their own, so each is a click away on a laptop screen. The long
ones (grid, batch, knowledge) fill their tables in as the answers come, say how far they are and
about how long is left, and can be cancelled.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace

import gradio as gr
import pandas as pd

from studio.chat import StopSignal, build_messages, generation_settings
from studio.compare import (
    GENERAL_PROMPTS, MAX_ANSWER_TOKENS, MAX_BATCH_ROWS, SIDES, VALIDATION, blind_order, comparison_rows,
    headline_metric, record_vote, stream_batch_compare, stream_general_check, stream_grid, stream_side_by_side, totals,
    vote_tally, write_report,
)
from studio.config import SAMPLES_DIR
from studio.jobs import JobManager
from studio.ui.common import bind, dataset_choices, run_choices, run_name, run_update, settings_widgets, user_errors
from studio.ui.i18n import i18n
from studio.ui.lang import say

GRID_TEMPERATURES = (0.0, 0.7, 1.2)
# Each table's columns, as keys of compare.column.*: Gradio shows Dataframe headers as they are, so a handler
# writes them in the page's language.
GRID_COLUMNS = ("temperature", "base", "tuned")
TOTAL_COLUMNS = ("metric", "base", "tuned", "change")
ROWS_COLUMNS = ("row", "prompt", "reference", "base", "tuned")  # then base and tuned of the headline metric
GENERAL_COLUMNS = ("prompt", "base", "tuned", "similarity")
DEFAULT_DATASET = str(SAMPLES_DIR / "reviews-test.jsonl")  # a choice value: the file path
BATCH_LIMIT = 20
LONG_TEXT = 160  # characters a cell shows of a long prompt or answer; a click on the cell shows it all


def open_run(manager: JobManager, run_path: str | None) -> tuple:
    """From the Train tab: this tab, with the run it followed selected."""
    return gr.Tabs(selected="compare"), run_update(manager, run_name(run_path))


def batch_datasets() -> list[tuple[str, str]]:
    return [(i18n("compare.validation_rows"), VALIDATION), *dataset_choices()]


# ---------------------------------------------------------------- what a handler writes in the page's language


def headers(request: gr.Request | None, columns) -> list[str]:
    return [say(request, f"compare.column.{column}") for column in columns]


def metric_name(request: gr.Request | None, metric: str) -> str:
    return say(request, f"compare.metric.{metric}")


def duration(request: gr.Request | None, seconds: float) -> str:
    """"40 s" under a minute and a half, else "3 min"."""
    if seconds < 90:
        return say(request, "compare.seconds", value=max(1, round(seconds)))
    return say(request, "compare.minutes", value=round(seconds / 60))


class Pace:
    """Time left of a long operation from the pace of its answers. The first step also loads the models,
    so once there is a second, the pace is counted from the end of the first."""

    def __init__(self):
        self.started = time.monotonic()
        self.first: tuple[float, int] | None = None

    def left(self, done: int, total: int) -> float:
        now = time.monotonic()
        if self.first is None:
            self.first = (now, done)
        since, counted = self.first
        if done > counted:
            return (now - since) / (done - counted) * (total - done)
        return (now - self.started) / max(done, 1) * (total - done)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def progress_line(request: gr.Request | None, progress: tuple[int, int], pace: Pace) -> str:
    """"12 of 40 answers · about 50 s left", or, with every answer in, that they are being scored."""
    done, total = progress
    if done >= total:
        return say(request, "compare.progress.scoring")
    return say(request, "compare.progress.answers", done=done, total=total,
               left=duration(request, pace.left(done, total)))


def done_line(request: gr.Request | None, answers: int, pace: Pace) -> str:
    return say(request, "compare.progress.done", total=answers, elapsed=duration(request, pace.elapsed()))


def blank(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells not answered yet show empty rather than "NaN"."""
    return frame.astype(object).where(frame.notna(), "")


def grid_frame(request: gr.Request | None, rows: list[list] = ()) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=headers(request, GRID_COLUMNS))


def totals_frame(request: gr.Request | None, result: dict | None = None, metric: str = "") -> pd.DataFrame:
    """One row per metric, the one to read first on top, names in the page's language."""
    ordered = sorted(totals(result), key=lambda row: row["metric"] != metric) if result else []
    return pd.DataFrame([[metric_name(request, row["metric"]), row["base"], row["tuned"], row["change"]]
                         for row in ordered], columns=headers(request, TOTAL_COLUMNS))


def rows_frame(request: gr.Request | None, result: dict | None = None, metric: str = "exact_match") -> pd.DataFrame:
    """The per-row table: prompt, reference, both answers and both scores of the metric to read."""
    shown = [*ROWS_COLUMNS, f"base_{metric}", f"tuned_{metric}"]
    names = [*headers(request, ROWS_COLUMNS),
             *(say(request, f"compare.column.{side}_metric", metric=metric_name(request, metric)) for side in SIDES)]
    frame = pd.DataFrame(comparison_rows(result) if result else [], columns=shown)
    return blank(frame).set_axis(names, axis=1)


def general_frame(request: gr.Request | None, rows: list[dict] | None = None) -> pd.DataFrame:
    rows = rows or [{"prompt": prompt, "base": "", "tuned": "", "similarity": None} for prompt in GENERAL_PROMPTS]
    frame = pd.DataFrame(rows, columns=GENERAL_COLUMNS)
    return blank(frame).set_axis(headers(request, GENERAL_COLUMNS), axis=1)


def page_loaded(run: str | None, request: gr.Request | None = None) -> list:
    """The vote tally, and the grid, totals, per-row and knowledge tables before anything ran, in the page's
    language."""
    return [current_tally(run, request), grid_frame(request), totals_frame(request), rows_frame(request),
            general_frame(request)]


def tally_text(request: gr.Request | None, tally: dict) -> str:
    """The blind votes as one line ("Tuned 3 · Base 1 · Ties 0"), or how to cast one."""
    if not tally["votes"]:
        return say(request, "compare.tally_none")
    return say(request, "compare.tally", tuned=tally["tuned"], base=tally["base"], tie=tally["tie"])


def current_tally(run: str | None, request: gr.Request | None = None) -> str:
    empty = {"tuned": 0, "base": 0, "tie": 0, "votes": 0}
    if not run:
        return tally_text(request, empty)
    try:
        return tally_text(request, vote_tally(run))
    except ValueError:  # a run deleted or unfinished since the list was drawn
        return tally_text(request, empty)


# ---------------------------------------------------------------- side by side and blind votes


def column_labels(order: tuple[str, str], blind: bool, revealed: bool = False) -> list[dict]:
    """Labels of the two answer columns: base and tuned, or A and B until revealed."""
    if not blind:
        return [gr.update(label=i18n("compare.base")), gr.update(label=i18n("compare.tuned"))]
    if not revealed:
        return [gr.update(label=i18n("compare.answer_a")), gr.update(label=i18n("compare.answer_b"))]
    return [gr.update(label=i18n(f"compare.{letter}_is_{side}")) for letter, side in zip("ab", order)]


@user_errors
def compare(run: str, prompt: str, system_prompt: str, blind: bool, temperature, top_p, top_k, max_new_tokens,
            repetition_penalty, seed, stop: StopSignal, request: gr.Request | None = None):
    """Stream both answers into the two columns; in blind mode, in an order the user cannot see."""
    settings = generation_settings(temperature, top_p, top_k, max_new_tokens, repetition_penalty, seed)
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


@user_errors
def vote(choice: str, run: str, order, prompt: str, temperature, top_p, top_k, max_new_tokens, repetition_penalty,
         seed, request: gr.Request | None = None) -> list:
    """Count the vote in the run's tally, then reveal which answer was which."""
    settings = generation_settings(temperature, top_p, top_k, max_new_tokens, repetition_penalty, seed)
    tally = record_vote(run, choice, order, prompt, settings)
    return [*column_labels(order, True, revealed=True), None, gr.update(visible=False), tally_text(request, tally)]


def switch_mode(blind: bool) -> list:
    """A new mode starts with empty columns, so no answer keeps a label it no longer has."""
    return [{**label, "value": ""} for label in column_labels(SIDES, blind)] + [None, gr.update(visible=False)]


def reveal(order) -> list:
    """Show which answer was which without voting (no vote is counted for this pair afterwards)."""
    if not order:
        return [gr.skip(), gr.skip(), None, gr.update(visible=False)]
    return [*column_labels(order, True, revealed=True), None, gr.update(visible=False)]


def stop_answers(stop: StopSignal) -> None:
    stop.set()


# ---------------------------------------------------------------- the long ones: grid, batch, knowledge


@user_errors
def temperature_grid(run: str, prompt: str, system_prompt: str, first, second, third, temperature, top_p, top_k,
                     max_new_tokens, repetition_penalty, seed, stop: StopSignal, request: gr.Request | None = None):
    """(status, table): the table fills in temperature by temperature as the answers stream."""
    settings = generation_settings(temperature, top_p, top_k, max_new_tokens, repetition_penalty, seed)
    stop.clear()
    messages = build_messages(system_prompt, [], [], prompt or "")
    pace, rows = Pace(), []
    yield say(request, "compare.progress.loading"), grid_frame(request)
    for rows in stream_grid(run, messages, settings, [first, second, third], stop):
        # The temperature answering now: the last row with any text.
        current = max((index for index, row in enumerate(rows) if row[1] or row[2]), default=0)
        status = (say(request, "compare.progress.grid_first", total=len(rows)) if current == 0 else
                  say(request, "compare.progress.grid", index=current + 1, total=len(rows),
                      left=duration(request, pace.left(current, len(rows)))))
        yield status, grid_frame(request, rows)
    finished = say(request, "compare.progress.cancelled") if stop.is_set() else done_line(request, 2 * len(rows), pace)
    yield finished, gr.skip()


@user_errors
def batch(run: str, dataset: str, limit, max_new_tokens, request: gr.Request | None = None):
    """(status, which metric to read, totals, rows, CSV, Markdown): base and tuned on the same rows, the table
    filling in batch by batch; then the totals and the two downloads."""
    pace = Pace()
    yield (say(request, "compare.progress.loading"), "", totals_frame(request), rows_frame(request),
           gr.update(visible=False), gr.update(visible=False))
    for result in stream_batch_compare(run, dataset, int(limit or 0), int(max_new_tokens or 0) or None):
        yield (progress_line(request, result["progress"], pace), gr.skip(), gr.skip(),
               rows_frame(request, result, headline_metric(result)), gr.skip(), gr.skip())
    csv_path, markdown_path = write_report(result)
    metric = headline_metric(result)
    yield (done_line(request, result["progress"][1], pace), say(request, f"compare.read_{metric}"),
           totals_frame(request, result, metric), rows_frame(request, result, metric),
           gr.update(value=str(csv_path), visible=True), gr.update(value=str(markdown_path), visible=True))


@user_errors
def general(run: str, max_new_tokens, request: gr.Request | None = None):
    """(status, drift, its reading, rows): the base's answers first, then the tuned's and how far they moved."""
    pace = Pace()
    yield say(request, "compare.progress.loading"), gr.update(visible=False), "", general_frame(request)
    for result in stream_general_check(run, int(max_new_tokens or 64)):
        if result["drift"] is None:
            yield progress_line(request, result["progress"], pace), gr.skip(), gr.skip(), general_frame(request, result["rows"])
    yield (done_line(request, result["progress"][1], pace), gr.update(value=result["drift"], visible=True),
           drift_reading(request, result["drift"]), general_frame(request, result["rows"]))


DRIFT_LEVELS = ((0.3, "small"), (0.6, "moderate"), (1.0, "large"))


def drift_level(drift: float) -> str:
    """How to read a drift: small (everyday answers much as before), moderate, or large (tuning changed them)."""
    return next((level for limit, level in DRIFT_LEVELS if drift <= limit), "large")


def drift_reading(request: gr.Request | None, drift: float) -> str:
    return say(request, f"compare.drift_reading.{drift_level(drift)}")


def busy(running: bool) -> list:
    """(start button, cancel button): Cancel is on only while its operation runs, the start button only while it
    does not."""
    return [gr.update(interactive=not running), gr.update(interactive=running)]


def answering(running: bool) -> list:
    """(Compare, Stop) while the side-by-side answers stream, or not: Stop is red and on only while they do."""
    return [gr.update(interactive=not running),
            gr.update(interactive=running, variant="stop" if running else "secondary")]


def cancelled(request: gr.Request | None = None) -> list:
    """(status, start button, cancel button) once an operation is cancelled."""
    return [say(request, "compare.progress.cancelled"), *busy(False)]


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
    stop, grid_stop = gr.State(StopSignal()), gr.State(StopSignal())
    order = gr.State(None)
    with gr.Row(equal_height=True):
        refresh_runs = gr.Button("↻", size="sm")
        run = gr.Dropdown(label=i18n("compare.run"), info=i18n("compare.run_help"), buttons=[refresh_runs],
                          elem_id="compare-run", **run_choices(manager))
    with gr.Tabs(elem_id="compare-tools"):
        with gr.Tab(i18n("compare.side_by_side"), id="side", elem_id="compare-side-tab"):
            with gr.Row():
                with gr.Column(scale=3):
                    # One line that grows: Enter compares, Shift+Enter starts a new line (as in the Chat tab).
                    prompt = gr.Textbox(label=i18n("compare.prompt"), lines=1, max_lines=8,
                                        placeholder=i18n("chat.message_placeholder"), elem_id="compare-prompt")
                    with gr.Row():
                        compare_button = gr.Button(i18n("compare.compare"), variant="primary", elem_id="compare-send")
                        stop_button = gr.Button(i18n("compare.stop"), interactive=False, elem_id="compare-stop")
                    with gr.Row(equal_height=True):
                        left = gr.Textbox(label=i18n("compare.base"), lines=8, interactive=False, buttons=["copy"],
                                          elem_id="compare-left")
                        right = gr.Textbox(label=i18n("compare.tuned"), lines=8, interactive=False, buttons=["copy"],
                                           elem_id="compare-right")
                    with gr.Row(visible=False, elem_id="compare-votes") as vote_row:
                        vote_buttons = {choice: gr.Button(i18n(f"compare.vote_{choice.lower()}"),
                                                          elem_id=f"compare-vote-{choice.lower()}")
                                        for choice in ("A", "B", "tie")}
                        reveal_button = gr.Button(i18n("compare.reveal"), elem_id="compare-reveal")
                    tally = gr.Markdown(current_tally(run.value), elem_id="compare-tally")
                    with gr.Accordion(i18n("compare.grid"), open=False, elem_id="compare-grid-panel"):
                        gr.Markdown(i18n("compare.grid_help"))
                        with gr.Row():
                            grid_values = [gr.Number(value, minimum=0, maximum=2, step=0.1, min_width=120,
                                                     label=i18n(f"compare.grid_{index}"), elem_id=f"compare-grid-{index}")
                                           for index, value in enumerate(GRID_TEMPERATURES, 1)]
                        grid_button, grid_cancel, grid_status = action_row("compare.grid_run", "grid")
                        grid = gr.Dataframe(grid_frame(None), interactive=False, wrap=True, max_chars=LONG_TEXT * 3,
                                            max_height=420, column_widths=["14%", "43%", "43%"], elem_id="compare-grid")
                with gr.Column(scale=1, min_width=280):
                    blind = gr.Checkbox(label=i18n("compare.blind"), info=i18n("compare.blind_help"),
                                        elem_id="compare-blind")
                    with gr.Accordion(i18n("compare.settings"), open=True, elem_id="compare-settings"):
                        settings = settings_widgets("compare")
                        system_prompt = gr.Textbox(label=i18n("chat.system_prompt"), info=i18n("chat.system_prompt_help"),
                                                   lines=2, elem_id="compare-system-prompt")
        with gr.Tab(i18n("compare.batch"), id="batch", elem_id="compare-batch-tab"):
            gr.Markdown(i18n("compare.batch_help"))
            with gr.Row(equal_height=True):
                batch_dataset = gr.Dropdown(batch_datasets(), value=DEFAULT_DATASET, label=i18n("compare.batch_dataset"),
                                            scale=3, elem_id="compare-batch-dataset")
                batch_limit = gr.Number(BATCH_LIMIT, precision=0, minimum=0, maximum=MAX_BATCH_ROWS,
                                        label=i18n("compare.batch_limit"), info=i18n("compare.batch_limit_help"),
                                        elem_id="compare-batch-limit")
                batch_tokens = gr.Number(0, precision=0, minimum=0, maximum=MAX_ANSWER_TOKENS,
                                         label=i18n("compare.batch_tokens"), info=i18n("compare.batch_tokens_help"),
                                         elem_id="compare-batch-tokens")
            batch_button, batch_cancel, batch_status = action_row("compare.batch_run", "batch")
            batch_reading = gr.Markdown(elem_id="compare-batch-reading")
            batch_totals = gr.Dataframe(totals_frame(None), interactive=False, label=i18n("compare.batch_totals"),
                                        column_widths=["28%", "24%", "24%", "24%"], elem_id="compare-batch-totals")
            batch_rows = gr.Dataframe(rows_frame(None), interactive=False, wrap=True, max_height=420,
                                      max_chars=LONG_TEXT, label=i18n("compare.batch_rows"),
                                      column_widths=["5%", "23%", "14%", "20%", "20%", "9%", "9%"],
                                      elem_id="compare-batch-rows")
            with gr.Row():
                csv_download = gr.DownloadButton(i18n("compare.download_csv"), visible=False, elem_id="compare-batch-csv")
                markdown_download = gr.DownloadButton(i18n("compare.download_markdown"), visible=False,
                                                      elem_id="compare-batch-markdown")
        with gr.Tab(i18n("compare.general"), id="general", elem_id="compare-general-tab"):
            gr.Markdown(i18n("compare.general_help"))
            with gr.Row():
                general_tokens = gr.Number(64, precision=0, minimum=1, maximum=MAX_ANSWER_TOKENS, scale=0,
                                           min_width=200, label=i18n("chat.max_new_tokens"),
                                           elem_id="compare-general-tokens")
            general_button, general_cancel, general_status = action_row("compare.general_run", "general")
            with gr.Row(elem_classes="compare-actions"):
                # Shown once measured: an empty number box would read as zero drift.
                drift = gr.Number(visible=False, label=i18n("compare.drift"), info=i18n("compare.drift_help"),
                                  interactive=False, scale=0, min_width=320, elem_id="compare-drift")
                drift_words = gr.Markdown(elem_id="compare-drift-reading")
            general_rows = gr.Dataframe(general_frame(None), interactive=False, wrap=True, max_chars=LONG_TEXT * 2,
                                        column_widths=["24%", "33%", "33%", "10%"], elem_id="compare-general")

    # The page's first render cannot know its language: the tally and the tables' headers are written once it
    # loads (for the run it shows).
    gr.on(triggers=None, fn=bind(page_loaded, run.value), outputs=[tally, grid, batch_totals, batch_rows, general_rows],
          show_progress="hidden")
    refresh = bind(run_update, manager)
    refresh_runs.click(refresh, inputs=run, outputs=run)
    if tab is not None:
        # Colleagues' votes since the page opened count too.
        tab.select(refresh, inputs=run, outputs=run, show_progress="hidden").then(
            current_tally, inputs=run, outputs=tally, show_progress="hidden")
        # Only listed datasets can be read (no typed server paths); the list follows new saves.
        tab.select(lambda value: gr.update(choices=batch_datasets(), value=value), inputs=batch_dataset,
                   outputs=batch_dataset, show_progress="hidden")
    run.change(current_tally, inputs=run, outputs=tally, show_progress="hidden")
    # Stop is red and on only while the two answers stream; Compare is off meanwhile.
    answers = gr.on([compare_button.click, prompt.submit], bind(answering, True), outputs=[compare_button, stop_button],
                    queue=False, show_progress="hidden")
    answers.then(compare, inputs=[run, prompt, system_prompt, blind, *settings, stop],
                 outputs=[left, right, order, vote_row]).then(
        bind(answering, False), outputs=[compare_button, stop_button], queue=False, show_progress="hidden")
    stop_button.click(stop_answers, inputs=stop, queue=False)
    for choice, button in vote_buttons.items():
        button.click(bind(vote, choice), inputs=[run, order, prompt, *settings],
                     outputs=[left, right, order, vote_row, tally], trigger_mode="once")
    reveal_button.click(reveal, inputs=order, outputs=[left, right, order, vote_row])
    # Not queued, so the columns clear before a Compare clicked right after it starts.
    blind.change(switch_mode, inputs=blind, outputs=[left, right, order, vote_row], queue=False)
    long_operation(grid_button, grid_cancel, grid_status, temperature_grid,
                   [run, prompt, system_prompt, *grid_values, *settings, grid_stop], [grid])
    # The grid's answers stream token by token: its Cancel also ends the answer being written.
    grid_cancel.click(stop_answers, inputs=grid_stop, queue=False)
    long_operation(batch_button, batch_cancel, batch_status, batch, [run, batch_dataset, batch_limit, batch_tokens],
                   [batch_reading, batch_totals, batch_rows, csv_download, markdown_download])
    long_operation(general_button, general_cancel, general_status, general, [run, general_tokens],
                   [drift, drift_words, general_rows])
    return run
