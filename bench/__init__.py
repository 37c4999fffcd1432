"""Benchmarks: `python -m bench.train`, `python -m bench.chat`. Each runs a plain baseline and the studio's path in one process and prints both."""

from __future__ import annotations

import json
from pathlib import Path


def publish(report: dict, summary: str, json_path: str | None) -> dict:
    """Print the report as JSON and its one-paragraph summary; also write the JSON where asked."""
    print(json.dumps(report, indent=2))
    print(f"\n{summary}")
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2))
    return report
