"""The pre-run estimate: measured on the tiny model, and a run too big for the memory is flagged."""

from __future__ import annotations

import pytest

from studio.training import estimate as estimate_module
from studio.config import RunConfig
from studio.training.estimate import estimate
from studio.preflight import parameter_count


def tiny_config(model_dir, dataset, **overrides) -> RunConfig:
    values = dict(base_model=str(model_dir), dataset=str(dataset), batch_size=2, cutoff_length=64, epochs=2,
                  validation_split=0.2, eval_steps=3)
    values.update(overrides)
    return RunConfig(**values)


def test_lora_on_the_tiny_model_is_measured_and_fits(tiny_model_dir, tiny_sft_file, workspace):
    result = estimate(tiny_config(tiny_model_dir, tiny_sft_file))
    assert 0 < result.trainable < result.total
    assert result.memory_bytes > 0 and result.available_bytes > 0
    assert result.seconds_per_step > 0 and result.total_seconds > result.seconds_per_step
    # 12 rows, 2 held out: 10 training rows in batches of 2, twice.
    assert result.total_steps == 10
    assert result.fits and result.warning == ""


def test_full_fine_tuning_trains_every_weight(tiny_model_dir, tiny_sft_file, workspace):
    result = estimate(tiny_config(tiny_model_dir, tiny_sft_file, method="full", max_steps=4))
    assert result.trainable == result.total and result.total_steps == 4


def test_a_run_larger_than_free_memory_says_what_to_lower(tiny_model_dir, tiny_sft_file, workspace, monkeypatch):
    # Just the tiny model's float32 weights: enough to load it (less is refused before loading, see
    # test_preflight.py), too little to train, whatever the allocator reuses.
    weights = parameter_count(tiny_model_dir) * 4
    monkeypatch.setattr(estimate_module, "available_memory", lambda device: weights)
    result = estimate(tiny_config(tiny_model_dir, tiny_sft_file, batch_size=64, cutoff_length=256))
    assert not result.fits
    assert "batch_size (now 64)" in result.warning and "cutoff_length (now 256)" in result.warning
    assert "gradient_checkpointing" in result.warning


def test_settings_that_cannot_work_are_refused_before_loading(workspace):
    with pytest.raises(ValueError, match="No dataset"):
        estimate(RunConfig())


def test_a_step_that_runs_out_of_memory_says_what_to_change(tiny_model_dir, tiny_sft_file, workspace, monkeypatch):
    import torch

    def out_of_memory(*args):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(estimate_module, "_measure", out_of_memory)
    with pytest.raises(ValueError, match="runs out of memory.*lower batch_size"):
        estimate(tiny_config(tiny_model_dir, tiny_sft_file, method="full"))


def test_each_phase_is_reported_as_it_begins_with_a_growing_share(tiny_model_dir, tiny_sft_file, workspace):
    reported = []
    estimate(tiny_config(tiny_model_dir, tiny_sft_file), progress=lambda fraction, phase: reported.append((fraction, phase)))
    assert [phase for _, phase in reported] == list(estimate_module.PHASES)
    fractions = [fraction for fraction, _ in reported]
    assert fractions == sorted(fractions) and len(set(fractions)) == len(fractions)
    assert fractions[0] == 0 and fractions[-1] == 1


def test_a_progress_callback_that_raises_stops_the_estimate(tiny_model_dir, tiny_sft_file, workspace):
    """How Cancel stops an estimate: the callback raises, and nothing after that phase runs."""
    reported = []

    def stop_at_memory(fraction, phase):
        reported.append(phase)
        if phase == "memory":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        estimate(tiny_config(tiny_model_dir, tiny_sft_file), progress=stop_at_memory)
    assert reported[-1] == "memory"
