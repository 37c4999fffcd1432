"""The Train tab's loss chart, drawn as SVG on the server: whole-number step ticks, a dot on every validation
point (a lone point shows, where a one-point line draws nothing), each dot's value as its tooltip, and the axis
titles and legend in the page's language (Gradio's plots take neither from a handler)."""

from __future__ import annotations

import html
import math

import gradio as gr

from studio.ui.lang import language, say

# One colour per series, the same for every run.
SERIES_COLORS = {"loss": "#f97316", "eval_loss": "#2563eb"}
# The drawing box (SVG units; it scales to the column's width) and its margins for the axes.
CHART_WIDTH, CHART_HEIGHT = 640, 230
CHART_LEFT, CHART_RIGHT, CHART_TOP, CHART_BOTTOM = 52, 14, 30, 40
DOTTED_POINTS = 60  # a training-loss series this short gets a dot on each step; validation points always have one


def step_ticks(low: int, high: int, most: int = 10) -> list[int]:
    """Whole-number steps for the x axis: every 1, 2, 5, 10, 20, 50… steps, at most `most` of them."""
    spacing = 1
    while (high - low) / spacing > most:
        spacing = spacing * 5 // 2 if str(spacing).startswith("2") else spacing * 2
    return list(range(math.ceil(low / spacing) * spacing, high + 1, spacing))


def value_ticks(low: float, high: float, most: int = 5) -> list[float]:
    """Round numbers for the y axis, at most `most` of them, covering low to high."""
    raw = (high - low) / most
    power = 10 ** math.floor(math.log10(raw))
    spacing = next(factor * power for factor in (1, 2, 2.5, 5, 10) if factor * power >= raw)
    first = math.ceil(low / spacing)
    return [round(index * spacing, 10) for index in range(first, math.floor(high / spacing) + 1)]


def loss_chart(points: list[dict], request: gr.Request | None = None) -> str:
    """Training and validation loss per step as an SVG chart: whole-number steps on the x axis, a dot on every
    validation point (a lone point is a dot, where a line of one point draws nothing), axis titles and legend in
    the page's language, and each dot's value as its tooltip. Empty until the first logged step."""
    series = {name: [(point["step"], point["loss"]) for point in points
                     if point["series"] == name and point["loss"] is not None] for name in SERIES_COLORS}
    values = [pair for pairs in series.values() for pair in pairs]
    if not values:
        return ""
    first_step, last_step = min(step for step, _ in values), max(step for step, _ in values)
    if first_step == last_step:
        first_step, last_step = max(first_step - 1, 0), last_step + 1
    # A little room at both ends, so the first and last dots are drawn whole.
    padding = max((last_step - first_step) * 0.02, 0.25)
    low_step, high_step = first_step - padding, last_step + padding
    low, high = min(value for _, value in values), max(value for _, value in values)
    margin = (high - low) * 0.08 or max(abs(high) * 0.1, 0.1)
    low, high = low - margin, high + margin
    width, height = CHART_WIDTH - CHART_LEFT - CHART_RIGHT, CHART_HEIGHT - CHART_TOP - CHART_BOTTOM

    def x(step: float) -> float:
        return round(CHART_LEFT + (step - low_step) / (high_step - low_step) * width, 1)

    def y(value: float) -> float:
        return round(CHART_TOP + (high - value) / (high - low) * height, 1)

    step_word, loss_word = say(request, "train.chart.step"), say(request, "train.chart.loss")
    labels = {name: say(request, f"train.chart.series.{name}") for name in SERIES_COLORS}
    parts = [f'<rect x="{CHART_LEFT}" y="{CHART_TOP}" width="{width}" height="{height}" fill="none" '
             'stroke="currentColor" stroke-opacity="0.25"/>']
    for step in step_ticks(first_step, last_step):
        parts.append(f'<line x1="{x(step)}" x2="{x(step)}" y1="{CHART_TOP}" y2="{CHART_TOP + height}" '
                     'stroke="currentColor" stroke-opacity="0.1"/>'
                     f'<text x="{x(step)}" y="{CHART_TOP + height + 15}" text-anchor="middle">{step}</text>')
    for value in value_ticks(low, high):
        parts.append(f'<line x1="{CHART_LEFT}" x2="{CHART_LEFT + width}" y1="{y(value)}" y2="{y(value)}" '
                     'stroke="currentColor" stroke-opacity="0.1"/>'
                     f'<text x="{CHART_LEFT - 6}" y="{y(value) + 4}" text-anchor="end">{value:g}</text>')
    parts.append(f'<text x="{CHART_LEFT + width / 2}" y="{CHART_HEIGHT - 6}" text-anchor="middle">'
                 f'{html.escape(step_word)}</text>'
                 f'<text transform="translate(13 {CHART_TOP + height / 2}) rotate(-90)" text-anchor="middle">'
                 f'{html.escape(loss_word)}</text>')
    for name, pairs in series.items():
        color = SERIES_COLORS[name]
        if len(pairs) > 1:
            line = " ".join(f"{x(step)},{y(value)}" for step, value in pairs)
            parts.append(f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="2"/>')
        if name == "eval_loss" or len(pairs) <= DOTTED_POINTS:
            radius = 4 if name == "eval_loss" else 2.5
            parts += [f'<circle cx="{x(step)}" cy="{y(value)}" r="{radius}" fill="{color}"><title>'
                      f'{html.escape(labels[name])} · {html.escape(step_word)} {step}: {value:.4f}</title></circle>'
                      for step, value in pairs]
    parts += legend(labels, CHART_LEFT + width, request)
    return (f'<svg viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" width="100%" role="img" '
            f'aria-label="{html.escape(say(request, "train.loss"))}" font-size="12" fill="currentColor">'
            + "".join(parts) + "</svg>")


def legend(labels: dict[str, str], right: float, request: gr.Request | None = None) -> list[str]:
    """The legend, above the plot at its right (the component's label sits at the left), ending at `right`."""
    character = 13 if language(request) == "zh" else 7  # about how wide a character is at this font size
    left = right - sum(34 + character * len(label) for label in labels.values()) + 10
    parts = []
    for name, label in labels.items():
        color = SERIES_COLORS[name]
        parts.append(f'<line x1="{left}" x2="{left + 18}" y1="12" y2="12" stroke="{color}" stroke-width="2"/>'
                     f'<circle cx="{left + 9}" cy="12" r="3" fill="{color}"/>'
                     f'<text x="{left + 24}" y="16">{html.escape(label)}</text>')
        left += 34 + character * len(label)
    return parts
