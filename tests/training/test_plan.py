"""The run plan: auto passes sized to the data, explicit settings winning, warm-up, the plan line."""

from __future__ import annotations

import pytest

from studio.config import load_config
from studio.training.plan import (
    AUTO_MAX_PASSES, AUTO_STEPS, AUTO_TOKENS, count_tokens, describe, flops_per_weight, plan_run, plan_steps,
    warmup_steps,
)

AUTO = load_config("cpu-lora", {"dataset": "data.jsonl"})  # epochs 0: auto; batch 8


@pytest.mark.parametrize("rows, tokens_per_row, passes, steps, reason", [
    (10, 70, AUTO_MAX_PASSES, 20, "most_passes"),  # 2 steps a pass: 15 passes would be nearest 30 steps
    (40, 70, 6, 30, "small"),  # the identity sample: 5 steps a pass
    (240, 120, 1, 30, "one_pass"),  # the reviews sample
    (5_000, 70, 1, 625, "one_pass"),  # 350,000 tokens: one pass fits the budget
    (5_000, 120, 0.67, 416, "budget"),  # 600,000 tokens: two thirds of a pass
    (100_000, 120, 0.03, 416, "budget"),  # 12 million tokens: never hours
])
def test_auto_passes_fit_the_data(rows, tokens_per_row, passes, steps, reason):
    plan = plan_steps(AUTO, rows, rows * tokens_per_row)
    assert (plan.total_steps, plan.reason) == (steps, reason)
    assert plan.passes == pytest.approx(passes, abs=0.01)
    assert 1 <= plan.total_steps
    assert plan.trained_tokens <= max(AUTO_TOKENS, rows * tokens_per_row)
    if rows <= 240:
        # A small set is seen several times, for about the steps a LoRA needs, never more than the most passes.
        assert plan.passes <= AUTO_MAX_PASSES and (plan.total_steps >= AUTO_STEPS * 2 / 3 or plan.passes == AUTO_MAX_PASSES)


def test_explicit_epochs_and_max_steps_win():
    assert plan_steps(load_config("cpu-lora", {"epochs": 2}), 40, 2_800).total_steps == 10
    assert plan_steps(load_config("cpu-lora", {"epochs": 0.5}), 40, 2_800).total_steps == 3
    assert plan_steps(load_config("cpu-lora", {"epochs": 1}), 100_000, 12_000_000).total_steps == 12_500
    max_steps = plan_steps(load_config("cpu-lora", {"max_steps": 7, "epochs": 3}), 40, 2_800)
    assert (max_steps.total_steps, max_steps.reason) == (7, "max_steps")


def test_batches_accumulation_and_processes_make_a_step():
    config = load_config("cpu-lora", {"batch_size": 4, "gradient_accumulation": 2})
    assert plan_steps(config, 40, 2_800).steps_per_pass == 5
    assert plan_steps(config, 40, 2_800, processes=5).steps_per_pass == 1


def test_a_short_run_still_warms_up_and_decays():
    assert warmup_steps(AUTO, 5) == 1 and warmup_steps(AUTO, 30) == 2 and warmup_steps(AUTO, 625) == 32
    assert warmup_steps(load_config("cpu-lora", {"warmup_ratio": 0}), 30) == 0
    assert warmup_steps(load_config("cpu-lora", {"warmup_ratio": 0.9}), 2) == 1  # one step is left to decay
    assert plan_steps(AUTO, 40, 2_800).warmup_steps == 2


def test_the_line_says_what_and_why():
    assert describe(plan_steps(AUTO, 40, 2_800, tokens_per_second=160)) == \
        "40 rows → 6 passes, 30 steps, about 2 min: small datasets need several passes"
    assert describe(plan_steps(AUTO, 240, 28_800)) == \
        "240 rows → 1 pass, 30 steps, time unknown: one pass is enough for this many rows"
    assert describe(plan_steps(AUTO, 100_000, 12_000_000, tokens_per_second=50)).startswith(
        "100,000 rows → 0.033 passes, 416 steps, about 2.2 h: auto's token budget")


def test_preference_pairs_count_their_prompt_once_per_answer():
    assert count_tokens([{"input_ids": [1, 2, 3]}, {"prompt_ids": [1, 2], "chosen_ids": [3], "rejected_ids": [4, 5]}]) == 10


def test_the_plan_of_a_config_matches_the_steps_training_takes(tiny_model_dir, tiny_sft_file, workspace, tmp_path):
    from studio.training import run_training

    config = load_config("cpu-lora", {"dataset": str(tiny_sft_file), "base_model": str(tiny_model_dir),
                                      "output_dir": str(tmp_path / "run"), "eval_steps": 0, "save_steps": 100,
                                      "probe_max_new_tokens": 2, "validation_split": 0.1})
    plan = plan_run(config)
    # 12 rows, 1 held out: 2 steps a pass, the most passes.
    assert (plan.rows, plan.steps_per_pass, plan.total_steps) == (11, 2, 20)
    assert plan.seconds and plan.seconds > 0
    summary = run_training(config)
    assert summary["status"] == "finished" and summary["steps"] == summary["total_steps"] == plan.total_steps
    events = (tmp_path / "run" / "events.jsonl").read_text()
    assert '"plan": "11 rows → 10 passes, 20 steps' in events


@pytest.mark.parametrize("preset, expected", [
    ("cpu-lora", 6),  # a forward and a backward pass
    ("cpu-rm", 6),
    ("cpu-dpo", 10),  # + the reference's forward + gradient checkpointing's recomputation
    ("cpu-kto", 8 + 2 * load_config("cpu-kto").gradient_checkpointing),
    ("cpu-grpo", 8),  # + sampling; preference_beta 0: no reference pass
])
def test_a_first_run_is_guessed_at_the_passes_its_stage_makes(preset, expected):
    assert flops_per_weight(load_config(preset)) == expected
    assert flops_per_weight(load_config("cpu-grpo", {"preference_beta": 0.05})) == 10
