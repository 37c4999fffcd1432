"""The Dataset tab's checks, called as plain functions: problems, duplicates, token lengths, the model's view."""

from __future__ import annotations

import gradio as gr
import pytest

from studio.ui import dataset_checks, dataset_edit
from studio.ui.dataset_checks import PROMPT, TRAINED
from studio.ui.i18n import EN


def test_duplicates_are_found_and_selected():
    draft = dataset_edit.open_sample("identity.jsonl")[0]
    doubled = draft.edit([*draft.rows, dict(draft.rows[0], output="Another answer.")], "add")
    row_count, problem_count, _, duplicates, _ = dataset_checks.check(doubled)
    assert (row_count, problem_count) == (len(draft.rows) + 1, 0)
    assert duplicates == f"1 = {len(doubled.rows)}"
    assert dataset_checks.select_copies(doubled) == str(len(doubled.rows))
    assert dataset_checks.check(draft)[3] == EN["dataset.no_duplicates"]


def test_token_histogram_with_an_injected_tokenizer(tiny_tokenizer, monkeypatch):
    draft = dataset_edit.open_sample("identity.jsonl")[0]
    plot, summary, over = dataset_checks.count_tokens(draft, 512, tokenizer=tiny_tokenizer)
    plot = plot["value"]
    assert over == 0 and len(summary.split(" · ")) == 4
    assert plot["rows"].sum() == len(draft.rows) and set(plot["side"]) == {dataset_checks.WITHIN, dataset_checks.OVER}
    assert plot[plot["side"] == dataset_checks.OVER]["rows"].sum() == 0
    assert plot["tokens"].tolist() == sorted(plot["tokens"])  # padded so the chart's text order is numeric
    plot, _, over = dataset_checks.count_tokens(draft, 5, tokenizer=tiny_tokenizer)
    plot = plot["value"]
    assert over == len(draft.rows) == plot[plot["side"] == dataset_checks.OVER]["rows"].sum()

    labels = dataset_checks.histogram([51, 52, 60, 70, 75, 76, 77, 80, 84], cutoff=75)["tokens"].tolist()
    assert "75" in [label.strip() for label in labels] and labels == sorted(labels)  # numeric order, as text too

    def unavailable():
        raise OSError("no tokenizer files")

    monkeypatch.setattr(dataset_checks, "embedded_tokenizer", unavailable)
    plot, summary, over = dataset_checks.count_tokens(draft, 512)
    assert over is None and "no tokenizer files" in summary and plot["value"].empty


def test_what_the_model_sees_marks_the_trained_reply(tiny_tokenizer):
    draft = dataset_edit.open_sample("identity.jsonl")[0]
    pieces = dataset_checks.show_example(draft, 1, tokenizer=tiny_tokenizer)
    trained = "".join(text for text, label in pieces if label == TRAINED)
    prompt = "".join(text for text, label in pieces if label == PROMPT)
    assert draft.rows[0]["output"] in trained and draft.rows[0]["instruction"] in prompt
    assert draft.rows[0]["instruction"] not in trained
    with pytest.raises(gr.Error, match="does not exist"):
        dataset_checks.show_example(draft, len(draft.rows) + 1, tokenizer=tiny_tokenizer)
    broken = draft.edit([{"instruction": "", "input": "", "output": "x"}], "edit")
    with pytest.raises(gr.Error, match="Fix this row first"):
        dataset_checks.show_example(broken, 1, tokenizer=tiny_tokenizer)


def test_the_check_names_placeholders_and_uses_the_cutoff_training_will_use():
    from studio.config import load_config
    from studio.ui.common import default_cutoff, default_preset

    draft = dataset_edit.open_sample("identity.jsonl")[0]
    rows, problem_count, problems, _, _ = dataset_checks.check(draft)
    assert problem_count == 0 and "{{name}}" in problems and "{{author}}" in problems
    assert default_cutoff() == load_config(default_preset()).cutoff_length
