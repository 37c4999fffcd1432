"""The UI's preference tuning parts: dpo/orpo settings in the Train tab, reward charts, pairs in the Dataset tab."""

from __future__ import annotations

import json
from types import SimpleNamespace

import gradio as gr

from studio import editing
from studio.config import load_config
from studio.jobs import JobManager
from studio.ui import dataset_checks, dataset_edit, train_form, train_runs, train_tab
from tests.conftest import FIXTURES


def test_preference_settings_show_for_dpo_and_orpo_only():
    assert [update["visible"] for update in train_form.stage_view("dpo")] == [True, True]
    assert [update["visible"] for update in train_form.stage_view("orpo")] == [True, False]  # ORPO has one loss
    assert [update["visible"] for update in train_form.stage_view("sft")] == [False, False]


def test_dpo_settings_round_trip_through_the_widgets(tmp_path):
    (tmp_path / "pairs.jsonl").write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n')
    config = load_config("cpu-dpo", {"dataset": str(tmp_path / "pairs.jsonl"), "preference_loss": "ipo",
                                     "preference_beta": 0.3})
    assert train_form.read_settings(*train_form.setting_values(config)) == config
    with gr.Blocks() as demo:
        train_tab.build(JobManager())
    ids = {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    assert {"train-preference-beta", "train-preference-loss", "train-start-from",
            "train-preference-accuracy-plot", "train-reward-margin-plot"} <= ids


def test_reward_charts_follow_the_run_events(workspace):
    run = workspace / "runs" / "dpo"
    run.mkdir(parents=True)
    events = [{"event": "prepared", "total_steps": 4},
              {"step": 1, "loss": 0.69, "preference_accuracy": 0.0, "reward_margin": 0.0},
              {"step": 2, "loss": 0.6, "preference_accuracy": 0.75, "reward_margin": 0.2},
              {"step": 2, "eval_loss": 0.62, "preference_accuracy": 0.5, "reward_margin": 0.1}]
    (run / "events.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    row, accuracy, margin = train_runs.reward_view(str(run))
    assert row["visible"] is True
    assert accuracy.dropna().values.tolist() == [[1, "train", 0.0], [2, "train", 0.75], [2, "validation", 0.5]]
    assert margin.dropna()["reward_margin"].tolist() == [0.0, 0.2, 0.1]
    (run / "events.jsonl").write_text(json.dumps({"step": 1, "loss": 1.0}) + "\n")  # an SFT run
    assert train_runs.reward_view(str(run))[0]["visible"] is False
    row, early, _ = train_runs.reward_view(str(run.parent / "none"))
    assert row["visible"] is False and early is None


def test_pairs_are_edited_as_columns_and_shown_side_by_side(workspace):
    draft = dataset_edit.upload(str(FIXTURES / "dpo_en_demo.json"))[0]
    assert draft.shape == "preference" and draft.columns[:3] == ["prompt", "chosen", "rejected"]
    assert not editing.find_problems(draft.rows, draft.shape)
    group, prompt, chosen, rejected = dataset_checks.show_pair(draft, 1)
    assert group["visible"] is True and prompt.startswith("Hi! I'd like to create a new language game")
    assert chosen == draft.rows[0]["chosen"] and rejected == draft.rows[0]["rejected"]
    # A cell edited in the table shows in the side-by-side view.
    frame, shown, _, _ = dataset_edit.show_table(draft, "", 1)
    records = frame["value"].to_dict("records")
    records[1]["chosen"] = "A short answer."
    edited = dataset_edit.edit_cells(draft, frame["value"].__class__(records), shown, "", 1)[0]
    assert dataset_checks.show_pair(edited, 2)[2] == "A short answer."
    assert dataset_edit.clicked_row(shown, SimpleNamespace(index=[4, 1])) == shown[4]
    broken = edited.edit([{**edited.rows[0], "rejected": ""}, *edited.rows[1:]], "edit")
    assert "rejected" in dataset_checks.show_pair(broken, 1)[1]
    instruction = editing.new_draft("x", "instruction")
    assert dataset_checks.show_pair(instruction, 1)[0]["visible"] is False
