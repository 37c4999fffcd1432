"""A reward model on the embedded model (SmolLM2-135M-Instruct): a few minutes on a CPU, marked slow."""

from __future__ import annotations

import time

import pytest

from studio.config import load_config
from tests.conftest import PROJECT

pytestmark = pytest.mark.slow
SAMPLES = PROJECT / "presets" / "samples"


@pytest.mark.long(70)
def test_cpu_rm_prefers_the_concise_answers_of_held_out_pairs(embedded_workspace, tmp_path):
    """cpu-rm on the concise-vs-rambling pairs: the held-out pairs' concise answers score above the rambling ones."""
    from studio.data import load_dataset
    from studio.messages import preference_parts
    from studio.scoring import score_answers
    from studio.training import run_training

    run_dir = tmp_path / "rm"
    # cpu-rm's 6 steps but the warm-up's first (from a rate of 0 it learns nothing), and no validation share:
    # the held-out pairs below are the measure.
    config = load_config("cpu-rm", {"dataset": str(SAMPLES / "concise-preference-train.jsonl"),
                                    "output_dir": str(run_dir), "max_steps": 5, "warmup_ratio": 0.0,
                                    "validation_split": 0.0})
    started = time.time()
    summary = run_training(config)
    trained = time.time() - started
    assert summary["status"] == "finished"

    parts = [preference_parts(row) for row in load_dataset(SAMPLES / "concise-preference-test.jsonl").rows]
    assert len(parts) == 32
    prompts = [prompt for prompt, _, _ in parts]
    chosen = score_answers(run_dir, prompts, [answer for _, answer, _ in parts])
    rejected = score_answers(run_dir, prompts, [answer for _, _, answer in parts])
    accuracy = sum(good > bad for good, bad in zip(chosen, rejected)) / len(parts)
    margin = sum(good - bad for good, bad in zip(chosen, rejected)) / len(parts)
    print(f"held-out pairwise accuracy {accuracy:.3f}, mean margin {margin:.3f}; trained in {trained:.0f} s, "
          f"scored in {time.time() - started - trained:.0f} s; {summary}")
    assert accuracy >= 0.85 and margin > 0
