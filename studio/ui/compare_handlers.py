"""The Compare tab's handlers: side by side (streaming, blind order, votes and their tally, reveal), and the long
ones over a grid of temperatures, a dataset's rows, and general-knowledge prompts, which fill their tables in
as answers come and say how far they are; with a reward model chosen, the grid and batch tables get a score
column per side. Everything a handler writes itself (table headers, progress lines, the tally, the drift
reading) is in the page's language. The votes as data and the scores beside the two answers are
`compare_votes`.
"""

from __future__ import annotations

import time

import gradio as gr
import pandas as pd

from studio.chat import build_messages
from studio.sampling import generation_settings
from studio.compare import (
    GENERAL_PROMPTS, SIDES, VALIDATION, comparison_rows, headline_metric, score_grid, stream_batch_compare,
    save_general_check, stream_general_check, stream_grid, stream_side_by_side, totals, write_report,
)
from studio.reward_scores import reward_run
from studio.votes import BlindPair, new_pair, record_vote, vote_tally
from studio.ui.common import StopSignal, dataset_choices, speed_caption, user_errors
from studio.ui.i18n import i18n
from studio.ui.lang import say

# Each table's columns, as keys of compare.column.*: Gradio shows Dataframe headers as they are, so a handler
# writes them in the page's language.
GRID_COLUMNS = ("temperature", "base", "tuned")
TOTAL_COLUMNS = ("metric", "base", "tuned", "change")
ROWS_COLUMNS = ("row", "prompt", "reference", "base", "tuned")  # then base and tuned of the headline metric
GENERAL_COLUMNS = ("prompt", "base", "tuned", "similarity")
# Each column's share of the width, without and with the reward model's score columns (True).
GRID_WIDTHS = {False: ["14%", "43%", "43%"], True: ["14%", "33%", "33%", "10%", "10%"]}
ROWS_WIDTHS = {False: ["5%", "23%", "14%", "20%", "20%", "9%", "9%"],
               True: ["5%", "19%", "12%", "18%", "18%", "7%", "7%", "7%", "7%"]}


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


def reward_headers(request: gr.Request | None) -> list[str]:
    """"Base: Reward score", "Tuned: Reward score"."""
    return [say(request, f"compare.column.{side}_metric", metric=metric_name(request, "reward")) for side in SIDES]


def sized(frame: pd.DataFrame, widths: list[str]) -> dict:
    """A table and its columns' widths, for a handler's first output: the score columns come and go."""
    return gr.update(value=frame, column_widths=widths)


def grid_frame(request: gr.Request | None, rows: list[list] = (), scored: bool = False) -> pd.DataFrame:
    """[temperature, base, tuned] rows; scored, with the two reward scores (empty until given)."""
    if not scored:
        return pd.DataFrame(list(rows), columns=headers(request, GRID_COLUMNS))
    rows = [list(row) + [""] * (len(GRID_COLUMNS) + len(SIDES) - len(row)) for row in rows]
    return pd.DataFrame(rows, columns=headers(request, GRID_COLUMNS) + reward_headers(request))


def totals_frame(request: gr.Request | None, result: dict | None = None, metric: str = "") -> pd.DataFrame:
    """One row per metric, the one to read first on top, names in the page's language."""
    ordered = sorted(totals(result), key=lambda row: row["metric"] != metric) if result else []
    return pd.DataFrame([[metric_name(request, row["metric"]), row["base"], row["tuned"], row["change"]]
                         for row in ordered], columns=headers(request, TOTAL_COLUMNS))


def rows_frame(request: gr.Request | None, result: dict | None = None, metric: str = "exact_match",
               scored: bool = False) -> pd.DataFrame:
    """The per-row table: prompt, reference, both answers and both scores of the metric to read; scored, both
    reward scores too."""
    shown = [*ROWS_COLUMNS, f"base_{metric}", f"tuned_{metric}",
             *((f"{side}_reward" for side in SIDES) if scored else ())]
    names = [*headers(request, ROWS_COLUMNS),
             *(say(request, f"compare.column.{side}_metric", metric=metric_name(request, metric)) for side in SIDES),
             *(reward_headers(request) if scored else ())]
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
def column_labels(order: tuple[str, str], blind: bool, revealed: bool = False, pair: BlindPair | None = None,
                  request: gr.Request | None = None) -> list[dict]:
    """Labels of the two answer columns: base and tuned, or A and B until revealed; where both columns are the
    tuned model (`pair.left`), each names its precision."""
    if isinstance(pair, BlindPair) and pair.left == "tuned" and (revealed or not blind):
        precisions = dict(zip(SIDES, pair.precisions))
        if not blind:
            return [gr.update(label=say(request, "compare.tuned_at", precision=precisions[side])) for side in SIDES]
        return [gr.update(label=say(request, "compare.answer_tuned_at", letter=letter, precision=precisions[side]))
                for letter, side in zip("AB", order)]
    if not blind:
        return [gr.update(label=i18n("compare.base")), gr.update(label=i18n("compare.tuned"))]
    if not revealed:
        return [gr.update(label=i18n("compare.answer_a")), gr.update(label=i18n("compare.answer_b"))]
    return [gr.update(label=i18n(f"compare.{letter}_is_{side}")) for letter, side in zip("ab", order)]


@user_errors
def compare(run: str, prompt: str, system_prompt: str, blind: bool, temperature, top_p, top_k, max_new_tokens,
            repetition_penalty, seed, stop: StopSignal, left: str = "base", left_precision: str = "auto",
            right_precision: str = "auto", request: gr.Request | None = None):
    """Stream both answers into the two columns; in blind mode, in an order the user cannot see. The pair (what
    was asked, the settings with blind mode's own seed, the order, the answers) is kept in the session for the
    vote and the reward scores: a vote records the answers the models gave, whatever a request sends. The last
    output says what each column cost (precision, weights' memory, tokens per second); blind, nothing that
    would tell the columns apart."""
    settings = generation_settings(temperature, top_p, top_k, max_new_tokens, repetition_penalty, seed)
    stop.clear()
    messages = build_messages(system_prompt, [], [], prompt or "")
    pair = new_pair(run, messages, settings, blind, left, (left_precision, right_precision))
    labels = column_labels(pair.order, blind, pair=pair, request=request)
    speeds: list = []
    columns = [{**label, "value": ""} for label in labels]
    for base_text, tuned_text in stream_side_by_side(pair.run, messages, pair.settings, stop, pair.left,
                                                     pair.precisions, speeds):
        pair = pair.answered(base_text, tuned_text)
        columns = [{**label, "value": text} for label, text in zip(labels, pair.shown())]
        # The vote buttons wait for the whole answers: a vote is for what was read, and a later stream update
        # would cover the reveal. They are hidden as Compare is clicked (`compare_started`), not here: a hidden row's
        # update among streamed values makes the page drop the values after it (Gradio 6.31), leaving an
        # answer cut short on screen.
        yield *columns, pair, gr.skip(), ""
    votes = show_votes() if blind else hide_votes()
    # The whole answers once more: a run's last message carries full values, not a diff, so a streamed step the
    # page missed is mended there.
    yield *columns, pair, votes, speeds_line(speeds, blind, request)


# The vote buttons' row never changes its visibility: Gradio 6.31 draws a row created hidden ("hidden") as shown,
# drops streamed values sent beside a hidden (False) row's update, and can land a hide sent to a row not yet on
# the page after a later show. A class hides it instead (`.studio-off`, in the page's CSS).
VOTES_OFF = ["studio-off"]


def hide_votes() -> dict:
    """The vote buttons, hidden while new answers are asked for."""
    return gr.update(elem_classes=VOTES_OFF)


def show_votes() -> dict:
    return gr.update(elem_classes=[])


def no_speeds() -> str:
    return ""


def speeds_line(speeds: list, blind: bool, request: gr.Request | None = None) -> str:
    """What each column cost, under the answers; empty in blind mode (the precisions and speeds would tell)."""
    if blind or len(speeds) != 2 or not all(speeds):
        return ""
    left, right = (speed_caption(speed, request) for speed in speeds)
    return say(request, "compare.speeds", left=left, right=right)


@user_errors
def vote(choice: str, pair: BlindPair | None, request: gr.Request | None = None) -> list:
    """Count the vote in the run's tally, then reveal which answer was which."""
    tally = record_vote(pair, choice)
    return [*column_labels(pair.order, True, revealed=True, pair=pair, request=request), None, hide_votes(),
            tally_text(request, tally)]


def switch_mode(blind: bool) -> list:
    """A new mode starts with empty columns, so no answer keeps a label it no longer has."""
    return [{**label, "value": ""} for label in column_labels(SIDES, blind)] + [None, hide_votes()]


def reveal(pair: BlindPair | None, request: gr.Request | None = None) -> list:
    """Show which answer was which without voting (no vote is counted for this pair afterwards)."""
    if not isinstance(pair, BlindPair) or not pair.blind:
        return [gr.skip(), gr.skip(), None, hide_votes()]
    return [*column_labels(pair.order, True, revealed=True, pair=pair, request=request), None, hide_votes()]


def stop_answers(stop: StopSignal) -> None:
    stop.set()


# ---------------------------------------------------------------- the long ones: grid, batch, knowledge
@user_errors
def temperature_grid(run: str, prompt: str, system_prompt: str, first, second, third, temperature, top_p, top_k,
                     max_new_tokens, repetition_penalty, seed, stop: StopSignal, reward: str | None = None,
                     request: gr.Request | None = None):
    """(status, table): the table fills in temperature by temperature as the answers stream; with a reward
    model run, its scores of the answers come last."""
    settings = generation_settings(temperature, top_p, top_k, max_new_tokens, repetition_penalty, seed)
    reward_dir = reward_run(reward)
    scored = reward_dir is not None
    stop.clear()
    messages = build_messages(system_prompt, [], [], prompt or "")
    pace, rows = Pace(), []
    yield say(request, "compare.progress.loading"), sized(grid_frame(request, scored=scored), GRID_WIDTHS[scored])
    for rows in stream_grid(run, messages, settings, [first, second, third], stop):
        # The temperature answering now: the last row with any text.
        current = max((index for index, row in enumerate(rows) if row[1] or row[2]), default=0)
        status = (say(request, "compare.progress.grid_first", total=len(rows)) if current == 0 else
                  say(request, "compare.progress.grid", index=current + 1, total=len(rows),
                      left=duration(request, pace.left(current, len(rows)))))
        yield status, grid_frame(request, rows, scored)
    if stop.is_set():
        yield say(request, "compare.progress.cancelled"), gr.skip()
        return
    if not scored:
        yield done_line(request, 2 * len(rows), pace), gr.skip()
        return
    yield say(request, "compare.progress.rewarding"), gr.skip()
    rows = score_grid(reward_dir, messages, rows)
    yield done_line(request, 2 * len(rows), pace), grid_frame(request, rows, scored)


@user_errors
def batch(run: str, dataset: str, limit, max_new_tokens, reward: str | None = None, request: gr.Request | None = None):
    """(status, which metric to read, totals, rows, CSV, Markdown): base and tuned on the same rows, the table
    filling in batch by batch (with a reward model run, a score column per side); then the totals (the mean
    score among them) and the two downloads."""
    pace, scored = Pace(), reward_run(reward) is not None
    yield (say(request, "compare.progress.loading"), "", totals_frame(request),
           sized(rows_frame(request, scored=scored), ROWS_WIDTHS[scored]), gr.update(visible=False),
           gr.update(visible=False))
    for result in stream_batch_compare(run, dataset, int(limit or 0), int(max_new_tokens or 0) or None,
                                       reward=reward):
        yield (progress_line(request, result["progress"], pace), gr.skip(), gr.skip(),
               rows_frame(request, result, headline_metric(result), scored), gr.skip(), gr.skip())
    csv_path, markdown_path = write_report(result)
    metric = headline_metric(result)
    yield (done_line(request, result["progress"][1], pace), say(request, f"compare.read_{metric}"),
           totals_frame(request, result, metric), rows_frame(request, result, metric, scored),
           gr.update(value=str(csv_path), visible=True), gr.update(value=str(markdown_path), visible=True))


@user_errors
def general(run: str, max_new_tokens, request: gr.Request | None = None):
    """(status, drift, its reading, rows): the base's answers first, then the tuned's and how far they moved."""
    pace = Pace()
    yield say(request, "compare.progress.loading"), gr.update(visible=False), "", general_frame(request)
    for result in stream_general_check(run, int(max_new_tokens or 64)):
        if result["drift"] is None:
            yield progress_line(request, result["progress"], pace), gr.skip(), gr.skip(), general_frame(request, result["rows"])
    save_general_check(result)
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


def compare_started() -> list:
    """(Compare, Stop, vote buttons) as Compare is clicked: Stop on, and the last pair's vote buttons hidden."""
    return [*answering(True), hide_votes()]


def cancelled(request: gr.Request | None = None) -> list:
    """(status, start button, cancel button) once an operation is cancelled."""
    return [say(request, "compare.progress.cancelled"), *busy(False)]
