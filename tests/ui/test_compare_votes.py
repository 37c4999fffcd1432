"""The Compare tab's votes as data and its reward scores, through the handlers: the dataset and its message in
the page's language, the refusals a request meets, the reward model list, the scores beside the two answers,
and a score column per side in the grid and batch compare (with a stand-in for studio.scoring)."""

from __future__ import annotations

import gradio as gr
import pytest

from studio import editing, votes
from studio.jobs import JobManager
from studio.sampling import generation_settings
from studio.ui import build_ui, compare_handlers, compare_tab, compare_votes
from studio.ui.common import StopSignal, dataset_choices
from studio.ui.dataset_edit import open_saved
from tests.ui.conftest import zh_page

GREEDY = (0, 0.9, 50, 6, 1.0, 0)  # temperature, top-p, top-k, max new tokens, repetition penalty, seed
QUESTION = [{"role": "user", "content": "the cat sat"}]


def blind_pair(base: str = "on the mat", tuned: str = "the dog ate the bone") -> votes.BlindPair:
    return votes.new_pair("tiny-lora", QUESTION, generation_settings(*GREEDY), blind=True).answered(base, tuned)


def test_the_votes_become_a_dataset_the_dataset_tab_lists_and_opens(own_run):
    for choice in ("A", "B", "tie"):
        compare_handlers.vote(choice, blind_pair())
    votes.record_vote(blind_pair("same", "same"), "A")
    message = compare_votes.make_votes_dataset("tiny-lora", "preference", "")
    assert message == ("Made **tiny-lora-votes-preference** (Preference pairs (DPO, ORPO)): 2 rows from 4 votes; "
                       "open it in the Dataset tab. Left out: ties 1 · old votes without answers 0 · empty or "
                       "identical answers 1.")
    # The Dataset tab's list (read when it is opened) and every tab's dataset list hold it, and it opens.
    assert "tiny-lora-votes-preference" in editing.workspace_datasets()
    assert "tiny-lora-votes-preference.jsonl" in [label for label, _ in dataset_choices()]
    draft = open_saved("tiny-lora-votes-preference")[0]
    assert draft.shape == "preference" and len(draft.rows) == 2
    zh = compare_votes.make_votes_dataset("tiny-lora", "feedback", "kto-votes", request=zh_page())
    assert zh.startswith("已生成 **kto-votes**（好 / 坏回答（KTO））：由 4 票得到 4 行") and "平局 1" in zh


@pytest.mark.parametrize("name, english, chinese", [
    ("../escape", "is not a plain dataset name", "不是单纯的数据集名称"),
    ("taken", "A dataset named .+taken.+ is already in the workspace", "工作区中已有名为 .+taken.+ 的数据集"),
])
def test_a_request_cannot_make_a_dataset_outside_the_workspace_or_over_one(own_run, name, english, chinese):
    compare_handlers.vote("A", blind_pair())
    compare_votes.make_votes_dataset("tiny-lora", "preference", "taken")
    before = sorted(path.read_bytes() for path in editing.datasets_dir().iterdir())
    with pytest.raises(gr.Error, match=english):
        compare_votes.make_votes_dataset("tiny-lora", "preference", name)
    with pytest.raises(gr.Error, match=chinese):
        compare_votes.make_votes_dataset("tiny-lora", "feedback", name, request=zh_page())
    assert sorted(path.read_bytes() for path in editing.datasets_dir().iterdir()) == before


def test_no_votes_and_unknown_kinds_or_runs_are_refused_in_the_page_language(own_run):
    with pytest.raises(gr.Error, match="No blind votes on tiny-lora yet"):
        compare_votes.make_votes_dataset("tiny-lora", "preference", "")
    with pytest.raises(gr.Error, match="tiny-lora 还没有盲测投票"):
        compare_votes.make_votes_dataset("tiny-lora", "preference", "", request=zh_page())
    with pytest.raises(gr.Error, match="不能是 .+sft"):
        compare_votes.make_votes_dataset("tiny-lora", "sft", "", request=zh_page())
    with pytest.raises(gr.Error, match="not a plain run name"):
        compare_votes.make_votes_dataset("../runs/tiny-lora", "preference", "")
    with pytest.raises(gr.Error, match="blind mode first"):
        compare_handlers.vote("A", "forged pair")


def test_the_reward_model_list_and_the_scores_beside_the_answers(own_run, fake_reward_run):
    judge, _ = fake_reward_run
    choices = compare_votes.reward_choices(JobManager())
    assert [value for _, value in choices["choices"]] == ["", "judge"] and choices["value"] == ""
    assert choices["choices"][0][0].key == "compare.reward_none"
    assert compare_votes.reward_choices(JobManager(), "judge")["value"] == "judge"
    assert compare_votes.reward_choices(JobManager(), "tiny-lora")["value"] == ""  # not a reward model
    # A reward model scores answers rather than writes them: it is no run to compare with its base.
    assert compare_votes.tuned_choices(JobManager())["choices"] == [("tiny-lora · lora · reviews.jsonl", "tiny-lora")]
    assert compare_votes.tuned_choices(JobManager(), "judge")["value"] == "tiny-lora"
    assert compare_tab.open_run(JobManager(), str(judge))[1]["value"] == "tiny-lora"
    pair = blind_pair("abc", "abcdef")
    scored = [{"base": "**0.3**", "tuned": "**0.6**"}[side] for side in pair.order]
    assert compare_votes.score_pair("judge", pair) == [f"Reward score: {score}" for score in scored]
    assert compare_votes.score_pair("judge", pair, request=zh_page()) == [f"奖励分数：{score}" for score in scored]
    assert compare_votes.score_pair("", pair) == ["", ""] and compare_votes.score_pair("judge", None) == ["", ""]
    with pytest.raises(gr.Error, match="tiny-lora.+ 不是已完成的奖励模型训练"):
        compare_votes.score_pair("tiny-lora", pair, request=zh_page())


def test_the_grid_and_batch_compare_get_a_score_column_per_side(own_run, fake_reward_run, tiny_sft_file):
    _, calls = fake_reward_run
    steps = list(compare_handlers.temperature_grid("tiny-lora", "the cat sat", "", 0, 0.7, None, *GREEDY,
                                                   StopSignal(), "judge"))
    first = steps[0][1]
    assert first["column_widths"] == compare_handlers.GRID_WIDTHS[True]
    assert list(first["value"].columns) == ["Temperature", "Base model", "Tuned", "Base: Reward score",
                                            "Tuned: Reward score"]
    assert steps[-2][0] == "Scoring the answers with the reward model…" and steps[-1][0].startswith("Done: 4 answers")
    table = steps[-1][1]
    assert table["Base: Reward score"].tolist() == [len(text) / 10 for text in table["Base model"]]
    batch = list(compare_handlers.batch("tiny-lora", str(tiny_sft_file), 2, 4, "judge", request=zh_page()))
    assert batch[0][3]["column_widths"] == compare_handlers.ROWS_WIDTHS[True]
    status, _, totals, rows, *_ = batch[-1]
    assert list(rows.columns)[-2:] == ["基础模型：奖励分数", "微调后：奖励分数"]
    assert rows["微调后：奖励分数"].tolist() == [len(text) / 10 for text in rows["微调后"]]
    assert totals["指标"].tolist()[-1] == "奖励分数"
    called = len(calls)
    list(compare_handlers.temperature_grid("tiny-lora", "the cat sat", "", 0, None, None, *GREEDY, StopSignal(), ""))
    assert len(calls) == called  # no reward model, no scores


def test_the_tab_has_the_reward_list_the_score_lines_and_the_votes_dataset_controls(own_run):
    demo = build_ui(JobManager())
    blocks = {block.elem_id: block for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    for name in ("compare-reward", "compare-left-score", "compare-right-score", "compare-data-kind",
                 "compare-data-name", "compare-data-make", "compare-data-message"):
        assert name in blocks
    assert blocks["compare-reward"].value == "" and blocks["compare-data-kind"].value == "preference"
    for widths in (*compare_handlers.GRID_WIDTHS.values(), *compare_handlers.ROWS_WIDTHS.values()):
        assert sum(float(width.rstrip("%")) for width in widths) == 100
