"""Line charts as SVG text, drawn without a plotting library: whole-number step ticks, a dot on every point of a
short or marked series (a lone point shows, where a one-point line draws nothing), each dot's value as its tooltip,
and the axis titles and legend as the caller words them, so a page or a report can put them in its own language.

    svg = line_chart({"lora": [(1, 2.3), (2, 1.9)], "dora": [(1, 2.2)]}, "step", "loss")

The Train tab's loss chart (studio/ui/chart.py) and the reports (studio/report.py) both draw with it.
"""

from __future__ import annotations

import html
import math

# The drawing box (SVG units; it scales to the column's width) and its margins for the axes.
CHART_WIDTH, CHART_HEIGHT = 640, 230
CHART_LEFT, CHART_RIGHT, CHART_TOP, CHART_BOTTOM = 52, 14, 30, 40
DOTTED_POINTS = 60  # a series this short gets a dot on each point; a marked series always has them
# Colours told apart at a glance, and by most people with colour-blindness, in the order series are given.
PALETTE = ("#f97316", "#2563eb", "#16a34a", "#db2777", "#7c3aed", "#0891b2", "#ca8a04", "#dc2626", "#4b5563",
           "#65a30d")
NARROW_CHARACTER, WIDE_CHARACTER = 7, 13
LEGEND_ROW = 16  # the height of a row of the legend  # about how wide a Latin and a CJK character is at this font size


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


def colors_for(names) -> dict[str, str]:
    """One palette colour per series name, in order (the palette repeats past its length)."""
    return {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(names)}


def character_width(texts) -> int:
    """About how wide a character of these texts is: CJK characters take about twice a Latin one's room."""
    return WIDE_CHARACTER if any(is_wide(character) for text in texts for character in text) else NARROW_CHARACTER


def is_wide(character: str) -> bool:
    return "\u2e80" <= character <= "\u9fff" or "\uac00" <= character <= "\ud7af" or "\uff00" <= character <= "\uffef"


def line_chart(series: dict[str, list[tuple[float, float]]], x_label: str, y_label: str, *,
               labels: dict[str, str] | None = None, colors: dict[str, str] | None = None, marked=(),
               title: str = "", wide: bool | None = None) -> str:
    """An SVG chart of one line per series (name -> (step, value) points, in step order); "" when no series has a
    point. `labels` words each series in the legend and tooltips (default: its name), `colors` colours it (default:
    the palette in order), `marked` series get a larger dot on every point (validation points), `title` is the
    chart's accessible name (default: y_label), `wide` sizes the legend for CJK text (default: from the labels)."""
    labels = {name: (labels or {}).get(name, name) for name in series}
    colors = {**colors_for(series), **(colors or {})}
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

    parts = axes(math.ceil(first_step), math.floor(last_step), low, high, x, y) + [
        f'<text x="{CHART_LEFT + width / 2}" y="{CHART_HEIGHT - 6}" text-anchor="middle">{html.escape(x_label)}</text>'
        f'<text transform="translate(13 {CHART_TOP + height / 2}) rotate(-90)" text-anchor="middle">'
        f'{html.escape(y_label)}</text>']
    for name, pairs in series.items():
        color = colors[name]
        if len(pairs) > 1:
            line = " ".join(f"{x(step)},{y(value)}" for step, value in pairs)
            parts.append(f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="2"/>')
        if name in marked or len(pairs) <= DOTTED_POINTS:
            radius = 4 if name in marked else 2.5
            parts += [f'<circle cx="{x(step)}" cy="{y(value)}" r="{radius}" fill="{color}"><title>'
                      f'{html.escape(labels[name])} · {html.escape(x_label)} {step}: {value:.4f}</title></circle>'
                      for step, value in pairs]
    wide = character_width(labels.values()) == WIDE_CHARACTER if wide is None else wide
    rows = legend_rows(labels, CHART_LEFT + width, WIDE_CHARACTER if wide else NARROW_CHARACTER)
    key = [part for index, row in enumerate(rows)
           for part in legend(row, colors, CHART_LEFT + width, WIDE_CHARACTER if wide else NARROW_CHARACTER, index)]
    # A legend of several rows pushes the plot down by the rows it adds.
    extra = LEGEND_ROW * (len(rows) - 1)
    body = "".join(parts) if not extra else f'<g transform="translate(0 {extra})">' + "".join(parts) + "</g>"
    return (f'<svg viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT + extra}" width="100%" role="img" '
            f'aria-label="{html.escape(title or y_label)}" font-size="12" fill="currentColor">' + body + "".join(key)
            + "</svg>")


def axes(first_step: int, last_step: int, low: float, high: float, x, y) -> list[str]:
    """The plot's frame, a grid line and label at each whole-step tick and round value."""
    width, height = CHART_WIDTH - CHART_LEFT - CHART_RIGHT, CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
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
    return parts


def legend_rows(labels: dict[str, str], right: float, character: int) -> list[dict[str, str]]:
    """The legend's entries in rows that each fit between the chart's left edge and `right`."""
    rows, room = [{}], right - 10
    for name, label in labels.items():
        wanted = 34 + character * len(label)
        if rows[-1] and sum(34 + character * len(text) for text in rows[-1].values()) + wanted > room:
            rows.append({})
        rows[-1][name] = label
    return rows


def legend(labels: dict[str, str], colors: dict[str, str], right: float, character: int = NARROW_CHARACTER,
           row: int = 0) -> list[str]:
    """One row of the legend, above the plot at its right (a page's label for the chart sits at the left), ending
    at `right`; `character` is about how wide a character of the labels is."""
    left = right - sum(34 + character * len(label) for label in labels.values()) + 10
    top = LEGEND_ROW * row
    parts = []
    for name, label in labels.items():
        color = colors[name]
        parts.append(f'<line x1="{left}" x2="{left + 18}" y1="{12 + top}" y2="{12 + top}" stroke="{color}" '
                     f'stroke-width="2"/><circle cx="{left + 9}" cy="{12 + top}" r="3" fill="{color}"/>'
                     f'<text x="{left + 24}" y="{16 + top}">{html.escape(label)}</text>')
        left += 34 + character * len(label)
    return parts
