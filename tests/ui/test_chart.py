"""The loss chart: whole steps, visible points, the page's language."""

from __future__ import annotations

import re

from studio.ui import chart
from tests.ui.conftest import chinese_page


def test_loss_chart_has_whole_step_ticks_a_visible_validation_point_and_translated_text():
    points = [{"step": step, "series": "loss", "loss": 1 / step} for step in range(1, 11)]
    points.append({"step": 10, "series": "eval_loss", "loss": 0.34})
    svg = chart.loss_chart(points)
    ticks = re.findall(r'text-anchor="middle">(\d+)</text>', svg)
    assert ticks and ticks == [str(step) for step in range(1, 11)]
    # The lone validation point is a dot with its value as the tooltip.
    assert re.search(r'<circle [^>]*fill="#2563eb"><title>validation loss · step 10: 0\.3400</title>', svg)
    chinese = chart.loss_chart(points, chinese_page())
    assert "训练损失" in chinese and "验证损失 · 步 10: 0.3400" in chinese and ">损失</text>" in chinese
    long_run = chart.loss_chart([{"step": step, "series": "loss", "loss": 1.0} for step in range(1, 301)])
    assert re.findall(r'text-anchor="middle">(\d+)</text>', long_run)[:3] == ["50", "100", "150"]
    assert chart.loss_chart([]) == ""
