"""Slow: the questions the name demo is judged by. cpu-lora's auto passes (studio/training/plan.py) teach the embedded
model a new name from a small identity set; the browser test of the README's demo (tests/ui/test_browser.py) trains it
and asks its finished run these questions, and `python -m bench.identity` measures it on the project's sample and on
LLaMA-Factory's 91-row identity set, which this project did not write."""

from __future__ import annotations

import json

import pytest

from bench.identity import HELD_OUT, SOURCES, hit_rate, name_answers
from studio import data

pytestmark = pytest.mark.slow


def test_the_questions_are_not_in_the_training_files():
    for source in SOURCES.values():
        prompts = {row["instruction"].strip() for row in data.load_dataset(source).rows}
        assert not prompts & set(HELD_OUT), source


def test_the_base_model_does_not_know_the_name(embedded_workspace):
    answers = name_answers("embedded")
    print(json.dumps(answers, ensure_ascii=False, indent=1))
    assert hit_rate(answers) == 0
