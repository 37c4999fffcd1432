"""The Train tab's loss chart: studio.charts' SVG line chart (whole-number step ticks, a dot on every validation
point, each dot's value as its tooltip) with its axis titles and legend in the page's language, which Gradio's
plots take from no handler."""

from __future__ import annotations

import gradio as gr

from studio.charts import line_chart
from studio.ui.lang import language, say

# One colour per series, the same for every run.
SERIES_COLORS = {"loss": "#f97316", "eval_loss": "#2563eb"}


def loss_chart(points: list[dict], request: gr.Request | None = None) -> str:
    """Training and validation loss per step as an SVG chart: whole-number steps on the x axis, a dot on every
    validation point (a lone point is a dot, where a line of one point draws nothing), axis titles and legend in
    the page's language, and each dot's value as its tooltip. Empty until the first logged step."""
    series = {name: [(point["step"], point["loss"]) for point in points
                     if point["series"] == name and point["loss"] is not None] for name in SERIES_COLORS}
    labels = {name: say(request, f"train.chart.series.{name}") for name in SERIES_COLORS}
    return line_chart(series, say(request, "train.chart.step"), say(request, "train.chart.loss"), labels=labels,
                      colors=SERIES_COLORS, marked=("eval_loss",), title=say(request, "train.loss"),
                      wide=language(request) == "zh")
