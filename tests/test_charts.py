"""SVG line charts without a plotting library: whole-step ticks, visible lone points, a legend, escaped text, and
several runs overlaid in colours of their own."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from studio import charts


class Elements(HTMLParser):
    def __init__(self, text: str):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))

    def of(self, tag: str) -> list[dict]:
        return [attrs for name, attrs in self.found if name == tag]


def test_several_runs_overlaid_each_in_its_own_colour_with_a_legend_and_whole_step_ticks():
    series = {"lora": [(step, 2 / step) for step in range(1, 8)], "dora": [(step, 1.8 / step) for step in range(1, 8)],
              "ia3": [(4, 1.1)]}
    svg = charts.line_chart(series, "step", "validation loss")
    elements = Elements(svg)
    lines = elements.of("polyline")
    assert len(lines) == 2 and len({line["stroke"] for line in lines}) == 2  # a lone point draws no line...
    ia3 = charts.colors_for(series)["ia3"]
    assert any(circle["fill"] == ia3 for circle in elements.of("circle"))  # ...but it shows as a dot
    assert len(set(charts.colors_for(series).values())) == 3
    assert all(f">{label}</text>" in svg for label in series)  # the legend
    assert re.findall(r'text-anchor="middle">(\d+)</text>', svg) == [str(step) for step in range(1, 8)]
    assert "<title>ia3 · step 4: 1.1000</title>" in svg
    assert ">validation loss</text>" in svg and 'aria-label="validation loss"' in svg


def test_axis_words_come_from_the_caller_and_every_text_is_escaped():
    svg = charts.line_chart({"<b>run</b>": [(0, 1.0), (3, 0.5)]}, "步", "损失 & <x>", title='a "chart"')
    assert "<b>" not in svg and "&lt;b&gt;run&lt;/b&gt;" in svg and "损失 &amp; &lt;x&gt;" in svg
    assert 'aria-label="a &quot;chart&quot;"' in svg and ">步</text>" in svg
    assert charts.line_chart({}, "step", "loss") == "" == charts.line_chart({"a": []}, "step", "loss")


def test_float_steps_and_a_single_point_still_draw_whole_step_ticks():
    svg = charts.line_chart({"a": [(2.0, 0.5)]}, "step", "loss")
    assert re.findall(r'text-anchor="middle">(\d+)</text>', svg) == ["1", "2", "3"]


def test_a_legend_too_wide_for_one_row_wraps_and_pushes_the_plot_down():
    series = {f"a-rather-long-run-name-{index}": [(1, index), (2, index + 1)] for index in range(6)}
    svg = charts.line_chart(series, "step", "loss")
    rows = {attrs["y"] for attrs in Elements(svg).of("text") if attrs.get("y") in ("16", "32", "48", "64")}
    assert len(rows) >= 2
    height = int(re.search(r'viewBox="0 0 \d+ (\d+)"', svg).group(1))
    assert height == charts.CHART_HEIGHT + charts.LEGEND_ROW * (len(rows) - 1)
    assert f'<g transform="translate(0 {charts.LEGEND_ROW * (len(rows) - 1)})">' in svg
    one_row = charts.line_chart({"a": [(1, 1.0), (2, 2.0)]}, "step", "loss")
    assert "<g " not in one_row and f'viewBox="0 0 {charts.CHART_WIDTH} {charts.CHART_HEIGHT}"' in one_row


def test_a_long_series_is_a_line_without_dots_but_a_marked_one_keeps_them():
    long = [(step, 1.0 / step) for step in range(1, 201)]
    svg = charts.line_chart({"loss": long, "eval_loss": long[::50]}, "step", "loss", marked=("eval_loss",))
    circles = Elements(svg).of("circle")
    assert len([circle for circle in circles if circle["r"] == "4"]) == 4
    assert not [circle for circle in circles if circle["r"] == "2.5"]
    assert charts.step_ticks(1, 200)[:3] == [20, 40, 60] and charts.value_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
