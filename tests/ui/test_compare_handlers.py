"""The Compare tab's handlers on the tiny run: side by side, blind votes, grid, batch, general; the long
tools' progress and partial tables; Stop."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pytest

from studio import compare, votes as votes_module
from studio.ui.common import StopSignal
from studio.ui import compare_handlers
from studio.ui.lang import say
from tests.ui.conftest import zh_page

# temperature, top-p, top-k, max new tokens, repetition penalty, seed
GREEDY = (0, 0.9, 50, 6, 1.0, 0)


def label(update) -> str:
    return update["label"].key


def test_side_by_side_fills_both_columns_labelled(trained_run):
    *steps, (last_left, last_right, last_pair, votes, speeds) = compare_handlers.compare(
        "tiny-lora", "the cat sat", "", False, *GREEDY, StopSignal())
    left, right, pair, _, _ = steps[-1]
    # The last message repeats the whole answers (it carries full values, so a step the page missed is mended).
    assert (last_left, last_right, last_pair) == (left, right, pair)
    assert label(left) == "compare.base" and label(right) == "compare.tuned"
    # Under the answers: what each column cost.
    assert re.fullmatch(r"Left: fp32 · \d+ MB of weights( · [\d.]+ tokens/s)?\. Right: fp32 · \d+ MB of weights"
                        r"( · [\d.]+ tokens/s)?\.", speeds)
    assert isinstance(left["value"], str) and isinstance(right["value"], str) and (left["value"] or right["value"])
    # The pair is kept for the reward scores, but is no blind pair to vote on.
    assert pair.order == ("base", "tuned") and not pair.blind and votes["elem_classes"] == ["studio-off"]
    assert pair.shown() == (left["value"], right["value"])
    with pytest.raises(gr.Error, match="blind mode first"):
        compare_handlers.vote("A", pair)
    with pytest.raises(gr.Error, match="Type a prompt"):
        list(compare_handlers.compare("tiny-lora", " ", "", False, *GREEDY, StopSignal()))


def test_blind_answers_hide_their_side_until_the_vote_counts_and_reveals(trained_run):
    plain = list(compare_handlers.compare("tiny-lora", "the cat sat", "", False, *GREEDY, StopSignal()))[-2]
    *steps, (_, _, _, votes, speeds) = compare_handlers.compare("tiny-lora", "the cat sat", "", True, *GREEDY,
                                                                 StopSignal())
    left, right, pair, hidden_votes, _ = steps[-1]
    assert speeds == ""  # precisions and speeds would tell the columns apart
    order = pair.order
    assert label(left) == "compare.answer_a" and label(right) == "compare.answer_b"
    # Voting opens once both answers are complete; Compare hides the buttons as it is clicked, and the streamed
    # answers leave them as they are (a hidden row's update among them cuts the answers short on the page).
    assert compare_handlers.compare_started()[2]["elem_classes"] == ["studio-off"]
    assert all(step[3] == gr.skip() for step in steps) and votes["elem_classes"] == []
    # Greedy answers are the same as unblinded ones, only placed in the hidden order.
    texts = {"base": plain[0]["value"], "tuned": plain[1]["value"]}
    assert [left["value"], right["value"]] == [texts[order[0]], texts[order[1]]]
    before = votes_module.vote_tally("tiny-lora")
    revealed_a, revealed_b, cleared, hidden, tally = compare_handlers.vote("A", pair)
    assert label(revealed_a) == f"compare.a_is_{order[0]}" and label(revealed_b) == f"compare.b_is_{order[1]}"
    assert cleared is None and hidden["elem_classes"] == ["studio-off"]
    # The vote holds the answers the models gave, whatever the page shows by then.
    recorded = votes_module.read_votes("tiny-lora")[-1]
    assert recorded["answers"] == texts and recorded["winner"] == order[0] and recorded["prompt"] == "the cat sat"
    expected = {**before, order[0]: before[order[0]] + 1}
    # Read-only words, not number boxes: "Blind votes: **tuned 1** · base 0 · ties 0".
    words = f"Blind votes: **tuned {expected['tuned']}** · base {expected['base']} · ties {expected['tie']}"
    assert tally == words == compare_handlers.current_tally("tiny-lora")
    assert compare_handlers.current_tally("tiny-lora", zh_page()).startswith("盲测投票：**微调后 ")
    assert compare_handlers.current_tally(None) == "No blind votes yet: switch on Blind mode, compare, then vote for the better answer."
    with pytest.raises(gr.Error, match="blind mode first"):
        compare_handlers.vote("B", None)
    assert label(compare_handlers.reveal(replace(pair, order=("tuned", "base")))[0]) == "compare.a_is_tuned"
    assert compare_handlers.reveal(None)[2] is None


def test_temperature_grid_fills_in_a_row_per_temperature_and_says_how_far_it_is(trained_run):
    steps = list(compare_handlers.temperature_grid("tiny-lora", "the cat sat", "", 0, 0.7, 0.7, *GREEDY, StopSignal()))
    assert steps[0][0] == "Loading the models…"
    assert list(steps[0][1]["value"].columns) == ["Temperature", "Base model", "Tuned"]
    assert steps[0][1]["column_widths"] == compare_handlers.GRID_WIDTHS[False]
    statuses = [status for status, _ in steps[1:-1]]
    assert statuses[0] == "Temperature 1 of 2…" and statuses[-1].startswith("Temperature 2 of 2 · about ")
    assert steps[-2][1]["Temperature"].tolist() == [0.0, 0.7]
    assert steps[-1][0].startswith("Done: 4 answers in ") and steps[-1][1] == gr.skip()
    # Cancelled: the stop signal ends the answer being written, and the line says so.
    stop = StopSignal()
    grid = compare_handlers.temperature_grid("tiny-lora", "the cat sat", "", 0, 0.7, 1.2, *GREEDY, stop)
    next(grid), next(grid)
    stop.set()
    *_, (status, _) = grid
    assert status == "Cancelled."
    zh = list(compare_handlers.temperature_grid("tiny-lora", "the cat sat", "", 0, None, None, *GREEDY, StopSignal(),
                                           request=zh_page()))
    assert zh[0][0] == "正在加载模型…" and list(zh[-2][1].columns) == ["温度", "基础模型", "微调后"]
    assert zh[-1][0].startswith("完成：2 个回答，用时 ")


def test_batch_fills_its_rows_in_as_they_are_answered_then_totals_and_downloads(trained_run, tiny_sft_file):
    steps = list(compare_handlers.batch("tiny-lora", str(tiny_sft_file), 4, 0))
    status, reading, totals, rows, csv_download, markdown_download = steps[0]
    assert status == "Loading the models…" and totals.empty and rows["value"].empty and not csv_download["visible"]
    assert rows["column_widths"] == compare_handlers.ROWS_WIDTHS[False]
    # One step per model and batch of rows (4 rows: one batch each), then the scores, then the end.
    progress = [step[0] for step in steps[1:-1]]
    assert progress[0].startswith("4 of 8 answers · about ") and progress[-1] == "All answers in; scoring them…"
    partial = steps[1][3]
    assert list(partial.columns) == ["#", "Prompt", "Reference", "Base model", "Tuned", "Base: Exact match",
                                     "Tuned: Exact match"]
    assert len(partial) == 4 and all(partial["Tuned"] == "") and all(partial["Tuned: Exact match"] == "")
    status, reading, totals, rows, csv_download, markdown_download = steps[-1]
    assert status.startswith("Done: 8 answers in ") and reading.startswith("Short answers: read **exact match**")
    assert list(totals.columns) == ["Metric", "Base model", "Tuned", "Change"]
    assert totals["Metric"].tolist() == ["Exact match", "BLEU-4", "ROUGE-1", "ROUGE-2", "ROUGE-L", "Perplexity"]
    assert len(rows) == 4 and rows["Base model"].tolist() == partial["Base model"].tolist()
    assert Path(csv_download["value"]).suffix == ".csv" and Path(markdown_download["value"]).suffix == ".md"
    assert csv_download["visible"] and Path(csv_download["value"]).exists()
    with pytest.raises(gr.Error, match="No dataset .+missing.jsonl.+ in the workspace"):
        list(compare_handlers.batch("tiny-lora", "missing.jsonl", 4, 0))
    with pytest.raises(gr.Error, match="工作区的数据集中没有 .+missing.jsonl"):
        list(compare_handlers.batch("tiny-lora", "missing.jsonl", 4, 0, request=zh_page()))
    *_, (status, reading, totals, rows, *_) = compare_handlers.batch("tiny-lora", str(tiny_sft_file), 2, 0, request=zh_page())
    assert status.startswith("完成：4 个回答，用时 ") and reading.startswith("短答案：看**完全匹配**")
    assert list(totals.columns) == ["指标", "基础模型", "微调后", "变化"]
    assert totals["指标"].tolist() == ["完全匹配", "BLEU-4", "ROUGE-1", "ROUGE-2", "ROUGE-L", "困惑度"]
    assert list(rows.columns)[-2:] == ["基础模型：完全匹配", "微调后：完全匹配"]


def test_general_check_shows_the_base_answers_first_then_drift_in_words(trained_run):
    steps = list(compare_handlers.general("tiny-lora", 4))
    assert steps[0][0] == "Loading the models…" and steps[0][1]["visible"] is False
    status, _, _, rows = steps[1]
    assert status.startswith("8 of 16 answers · about ") and all(rows["Tuned"] == "") and all(rows["Similarity"] == "")
    status, drift, reading, rows = steps[-1]
    assert status.startswith("Done: 16 answers in ") and len(rows) == len(compare.GENERAL_PROMPTS)
    assert list(rows.columns) == ["Prompt", "Base model", "Tuned", "Similarity"]
    assert 0 <= drift["value"] <= 1 and drift["visible"]
    level = compare_handlers.drift_level(drift["value"])
    assert reading == say(None, f"compare.drift_reading.{level}") and reading.startswith(f"A {level} change")
    *_, (_, _, reading, rows) = compare_handlers.general("tiny-lora", 4, request=zh_page())
    assert reading.startswith("变化") and list(rows.columns) == ["提示", "基础模型", "微调后", "相似度"]
    assert [compare_handlers.drift_level(value) for value in (0, 0.3, 0.31, 0.6, 0.7238, 1)] == [
        "small", "small", "moderate", "moderate", "large", "large"]
    with pytest.raises(gr.Error, match="与它的基础模型对比"):
        list(compare_handlers.general("", 4, request=zh_page()))


def test_blind_mode_draws_its_own_seed_so_its_answers_are_not_the_open_ones(trained_run):
    sampled = (1.0, 1.0, 0, 12, 1.0, 0)  # temperature 1, seed 0 in the widgets
    opened = list(compare_handlers.compare("tiny-lora", "the cat sat", "", False, *sampled, StopSignal()))[-2]
    blind_answers = []
    for _ in range(2):
        left, right, pair, _, _ = list(compare_handlers.compare("tiny-lora", "the cat sat", "", True, *sampled,
                                                                StopSignal()))[-2]
        assert pair.settings.seed != 0  # the seed drawn, kept for the vote
        blind_answers.append({pair.order[0]: left["value"], pair.order[1]: right["value"]})
    open_answers = {"base": opened[0]["value"], "tuned": opened[1]["value"]}
    assert all(answers != open_answers for answers in blind_answers)
    compare_handlers.vote("tie", pair)
    assert votes_module.read_votes("tiny-lora")[-1]["settings"]["seed"] == pair.settings.seed


def test_stop_is_red_and_on_only_while_the_answers_stream():
    compare_button, stop_button = compare_handlers.answering(True)
    assert compare_button["interactive"] is False
    assert stop_button["interactive"] is True and stop_button["variant"] == "stop"
    compare_button, stop_button = compare_handlers.answering(False)
    assert compare_button["interactive"] is True
    assert stop_button["interactive"] is False and stop_button["variant"] == "secondary"


def test_compare_hides_the_last_pairs_vote_buttons_with_the_same_step_that_turns_stop_on():
    compare_button, stop_button, votes = compare_handlers.compare_started()
    assert compare_button["interactive"] is False and stop_button["interactive"] is True
    assert votes["elem_classes"] == ["studio-off"]
