"""Preference tuning on the embedded model (SmolLM2-135M-Instruct): a few minutes on a CPU, marked slow."""

from __future__ import annotations

import pytest

from studio.config import load_config
from tests.conftest import PROJECT

pytestmark = pytest.mark.slow
SAMPLES = PROJECT / "presets" / "samples"


@pytest.mark.long(140)
def test_cpu_dpo_raises_held_out_preference_accuracy(embedded_workspace, tmp_path):
    """cpu-dpo, cut short, on the concise-vs-rambling pairs: held-out pairs come to prefer the concise answer."""
    from studio.data import load_dataset
    from studio.generate import load_for_chat
    from studio.preference_eval import evaluate_pairs
    from studio.training import run_training

    run_dir = tmp_path / "dpo"
    # Without cpu-dpo's gradient checkpointing: a tenth faster here, for a peak of 4.3 GB instead of 2.4. Without
    # its warm-up: in so short a run the warm-up's one step would learn nothing (it starts from a rate of 0).
    config = load_config("cpu-dpo", {"dataset": str(SAMPLES / "concise-preference-train.jsonl"),
                                     "output_dir": str(run_dir), "max_steps": 5, "validation_split": 0.0,
                                     "gradient_checkpointing": False, "warmup_ratio": 0.0})
    summary = run_training(config)
    assert summary["status"] == "finished"

    # The base's scores come from the same call, the adapter switched off (tests/test_preference_eval.py checks
    # that they equal the base model's own).
    held_out = load_dataset(SAMPLES / "concise-preference-test.jsonl").rows[:16]
    tuned, tokenizer = load_for_chat(None, run_dir)
    after = evaluate_pairs(tuned, tokenizer, held_out, answers=False)
    print(f"likelihood accuracy {after['base_likelihood_accuracy']} -> {after['likelihood_accuracy']}; "
          f"preference accuracy {after['preference_accuracy']}, margin {after['reward_margin']}; {summary}")
    assert after["preference_accuracy"] >= 0.8 and after["reward_margin"] > 0
    assert after["likelihood_accuracy"] > after["base_likelihood_accuracy"]
