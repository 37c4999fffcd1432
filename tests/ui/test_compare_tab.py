"""The Compare and Export tabs' handlers on the tiny run: side by side, blind votes, grid, batch, general, export."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from studio import compare
from studio.chat import StopSignal
from studio.jobs import JobManager
from studio.ui import build_ui, compare_tab, export_tab

ELEMENT_IDS = ("compare-run", "compare-blind", "compare-prompt", "compare-send", "compare-stop", "compare-left",
               "compare-right", "compare-vote-a", "compare-vote-b", "compare-vote-tie", "compare-reveal",
               "compare-tally-tuned", "compare-temperature", "compare-grid-1", "compare-grid-run", "compare-grid",
               "compare-batch-dataset", "compare-batch-limit", "compare-batch-run", "compare-batch-totals",
               "compare-batch-rows", "compare-batch-csv", "compare-batch-markdown", "compare-general-run",
               "compare-drift", "compare-general", "export-run", "export-zip", "export-download", "export-merge",
               "export-merge-name", "export-folder", "export-code", "train-compare")
# temperature, top-p, top-k, max new tokens, repetition penalty, seed
GREEDY = (0, 0.9, 50, 6, 1.0, 0)


def label(update) -> str:
    return update["label"].key


def test_app_builds_with_the_tabs_element_ids(trained_run):
    demo = build_ui(JobManager())
    ids = {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    assert set(ELEMENT_IDS) <= ids
    run = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "compare-run")
    assert run.value == "tiny-lora"


def test_train_tab_link_opens_this_tab_on_the_run(trained_run):
    tabs, run = compare_tab.open_run(JobManager(), str(trained_run))
    assert tabs.selected == "compare" and run["value"] == "tiny-lora"


def test_side_by_side_fills_both_columns_labelled(trained_run):
    *steps, (_, _, _, votes) = compare_tab.compare("tiny-lora", "the cat sat", "", False, *GREEDY, StopSignal())
    left, right, order, _ = steps[-1]
    assert label(left) == "compare.base" and label(right) == "compare.tuned"
    assert isinstance(left["value"], str) and isinstance(right["value"], str) and (left["value"] or right["value"])
    assert order is None and votes["visible"] is False
    with pytest.raises(gr.Error, match="Type a prompt"):
        list(compare_tab.compare("tiny-lora", " ", "", False, *GREEDY, StopSignal()))


def test_blind_answers_hide_their_side_until_the_vote_counts_and_reveals(trained_run):
    plain = list(compare_tab.compare("tiny-lora", "the cat sat", "", False, *GREEDY, StopSignal()))[-2]
    *steps, (_, _, _, votes) = compare_tab.compare("tiny-lora", "the cat sat", "", True, *GREEDY, StopSignal())
    left, right, order, hidden_votes = steps[-1]
    assert label(left) == "compare.answer_a" and label(right) == "compare.answer_b"
    # Voting opens once both answers are complete.
    assert hidden_votes["visible"] is False and votes["visible"] is True
    # Greedy answers are the same as unblinded ones, only placed in the hidden order.
    texts = {"base": plain[0]["value"], "tuned": plain[1]["value"]}
    assert [left["value"], right["value"]] == [texts[order[0]], texts[order[1]]]
    before = compare.vote_tally("tiny-lora")
    revealed_a, revealed_b, cleared, hidden, *tally = compare_tab.vote("A", "tiny-lora", order, "the cat sat", *GREEDY)
    assert label(revealed_a) == f"compare.a_is_{order[0]}" and label(revealed_b) == f"compare.b_is_{order[1]}"
    assert cleared is None and hidden["visible"] is False
    expected = {**before, order[0]: before[order[0]] + 1}
    assert tally == [expected["tuned"], expected["base"], expected["tie"]] == compare_tab.current_tally("tiny-lora")
    with pytest.raises(gr.Error, match="blind mode first"):
        compare_tab.vote("B", "tiny-lora", None, "the cat sat", *GREEDY)
    assert label(compare_tab.reveal(("tuned", "base"))[0]) == "compare.a_is_tuned"


def test_temperature_grid_has_a_row_per_temperature(trained_run):
    frames = list(compare_tab.temperature_grid("tiny-lora", "the cat sat", "", 0, 0.7, 0.7, *GREEDY, StopSignal()))
    assert frames[-1]["temperature"].tolist() == [0.0, 0.7]
    assert list(frames[-1].columns) == list(compare_tab.GRID_COLUMNS)


def test_batch_shows_totals_rows_and_downloads(trained_run, tiny_sft_file):
    reading, totals, rows, csv_download, markdown_download = compare_tab.batch("tiny-lora", str(tiny_sft_file), 4, 0)
    assert reading.key == "compare.read_exact_match"
    assert totals["metric"].tolist()[0] == "exact_match" and set(totals["metric"]) == set(compare.METRICS)
    assert len(rows) == 4 and {"base_exact_match", "tuned_exact_match"} <= set(rows.columns)
    assert Path(csv_download["value"]).suffix == ".csv" and Path(markdown_download["value"]).suffix == ".md"
    assert csv_download["visible"] and Path(csv_download["value"]).exists()
    with pytest.raises(gr.Error, match="No dataset 'missing.jsonl' in the workspace"):
        compare_tab.batch("tiny-lora", "missing.jsonl", 4, 0)


def test_general_check_reports_drift(trained_run):
    drift, reading, rows = compare_tab.general("tiny-lora", 4)
    assert 0 <= drift["value"] <= 1 and drift["visible"] and len(rows) == len(compare.GENERAL_PROMPTS)
    assert reading.key == f"compare.drift_reading.{compare_tab.drift_level(drift['value'])}"
    assert [compare_tab.drift_level(value) for value in (0, 0.3, 0.31, 0.6, 0.7238, 1)] == [
        "small", "small", "moderate", "moderate", "large", "large"]


def test_export_tab_zips_merges_and_refuses_to_overwrite(trained_run):
    saved, name, code, download = export_tab.show_run("tiny-lora")
    assert saved.startswith("adapter/") and name == "tiny-lora-merged" and "PeftModel" in code
    message, download, folder, code = export_tab.make_zip("tiny-lora")
    assert not message and download["visible"] and folder.endswith("tiny-lora-adapter.zip") and Path(folder).exists()
    message, folder, code = export_tab.merge("tiny-lora", "tab-merged")
    assert (Path(folder) / "config.json").exists() and "AutoModelForCausalLM.from_pretrained" in code
    # A refused merge says why on the message line and leaves the first merge's folder and code shown.
    message, *kept = export_tab.merge("tiny-lora", "tab-merged")
    assert "not empty" in message and kept == [gr.skip(), gr.skip()]
    message, *kept = export_tab.make_zip(None)
    assert "Pick a finished run first" in message and "compare" not in message.lower() and kept == [gr.skip()] * 3


def test_blind_mode_draws_its_own_seed_so_its_answers_are_not_the_open_ones(trained_run):
    sampled = (1.0, 1.0, 0, 12, 1.0, 0)  # temperature 1, seed 0 in the widgets
    opened = list(compare_tab.compare("tiny-lora", "the cat sat", "", False, *sampled, StopSignal()))[-2]
    blind_answers = []
    for _ in range(2):
        left, right, order, _ = list(compare_tab.compare("tiny-lora", "the cat sat", "", True, *sampled, StopSignal()))[-2]
        assert len(order) == 3 and order[2] != 0  # the seed drawn, kept for the vote
        blind_answers.append({order[0]: left["value"], order[1]: right["value"]})
    open_answers = {"base": opened[0]["value"], "tuned": opened[1]["value"]}
    assert all(answers != open_answers for answers in blind_answers)
    compare_tab.vote("tie", "tiny-lora", order, "the cat sat", *sampled)
    assert compare.read_jsonl(trained_run / compare.VOTES_FILE)[-1]["seed"] == order[2]
