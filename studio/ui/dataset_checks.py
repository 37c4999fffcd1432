"""The Dataset tab's checks: counts, problems and duplicates, token lengths against the cut-off, the model's view
of a row (trained reply and masked prompt), and a preference pair side by side; in the page's language."""

from __future__ import annotations

import functools

import gradio as gr
import pandas as pd

from studio import editing
from studio.config import EMBEDDED_MODEL
from studio.data import placeholders
from studio.editing import Draft
from studio.models import load_tokenizer, resolve_source
from studio.shapes import MAX_LISTED_PROBLEMS
from studio.tokens import length_summary
from studio.ui.common import default_cutoff, error_text, user_errors
from studio.ui.lang import language, say

TRAINED, PROMPT = "trained", "prompt"
EXAMPLE_COLORS = {TRAINED: "#86efac", PROMPT: "#e5e7eb"}
WITHIN, OVER = "≤", ">"  # the histogram's legend: symbols read the same in every language
HISTOGRAM_COLORS = {WITHIN: "#60a5fa", OVER: "#f87171"}


@functools.cache
def embedded_tokenizer():
    """Loaded on first use and shared read-only by every session: a tokenizer holds no one's data."""
    return load_tokenizer(resolve_source(EMBEDDED_MODEL))


def _tokenizer(tokenizer=None):
    try:
        return tokenizer or embedded_tokenizer()
    except Exception as error:  # whatever stops the load (missing files, no memory), the tab goes on without tokens
        raise ValueError(f"The embedded model's tokenizer could not be loaded ({error}).") from error


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
