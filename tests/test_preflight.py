"""Runs that cannot work are refused before anything starts, with the reason and what to change."""

from __future__ import annotations

import sys
import types

import pytest

from studio.training import estimate as estimate_module
from studio import preflight
from studio.config import RunConfig
from studio.training.estimate import estimate
from studio.jobs import JobManager
from studio.preflight import check_run, context_length, model_folder, parameter_count


def tiny(model_dir, dataset, workspace, **overrides) -> RunConfig:
    values = dict(base_model=str(model_dir), dataset=str(dataset), output_dir=str(workspace / "runs" / "r"),
                  max_steps=2, batch_size=2, cutoff_length=64)
    values.update(overrides)
    return RunConfig(**values)


def refused_before_starting(config: RunConfig, match: str, workspace) -> None:
    """Neither a job nor an estimate starts: no run folder, no model loaded."""
    with pytest.raises(ValueError, match=match):
        JobManager().start(config)
    assert not (workspace / "runs" / "r").exists()
    with pytest.raises(ValueError, match=match):
        estimate(config)


@pytest.fixture
def no_model_loading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the settings were checked")
    monkeypatch.setattr(estimate_module, "load_model", refuse)


def test_the_tiny_model_is_read_without_loading_it(tiny_model_dir):
    assert context_length({"max_position_embeddings": 2048}) == 2048
    assert context_length({"text_config": {"n_positions": 1024}}) == 1024 and context_length({}) is None
    assert model_folder(str(tiny_model_dir)) == tiny_model_dir.resolve()
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert parameter_count(tiny_model_dir) == sum(parameter.numel() for parameter in model.parameters())


def test_cutoff_above_the_context_length_is_refused(tiny_model_dir, tiny_sft_file, workspace, no_model_loading):
    refused_before_starting(tiny(tiny_model_dir, tiny_sft_file, workspace, cutoff_length=4096),
                            r"cutoff_length 4096 is above the context length .*\(2048 tokens\).*2048 or less", workspace)
    # Prompt methods put their virtual tokens in front of the text: they count too.
    refused_before_starting(tiny(tiny_model_dir, tiny_sft_file, workspace, cutoff_length=2040, method="prompt-tuning",
                                 num_virtual_tokens=16), "plus 16 virtual tokens.*2032 or less", workspace)
    check_run(tiny(tiny_model_dir, tiny_sft_file, workspace, cutoff_length=2048))


def test_a_model_larger_than_the_free_memory_is_refused(tiny_model_dir, tiny_sft_file, workspace, monkeypatch,
                                                         no_model_loading):
    parameters = parameter_count(tiny_model_dir)
    # Room for the float32 weights, not for full fine-tuning's gradients and optimizer state as well.
    monkeypatch.setattr(preflight, "available_memory", lambda device: parameters * 4 + 1000)
    check_run(tiny(tiny_model_dir, tiny_sft_file, workspace, method="lora"))
    refused_before_starting(tiny(tiny_model_dir, tiny_sft_file, workspace, method="full"),
                            "weights, gradients and optimizer state need .* GiB is free on the cpu.*use lora", workspace)
    monkeypatch.setattr(preflight, "available_memory", lambda device: 1000)
    refused_before_starting(tiny(tiny_model_dir, tiny_sft_file, workspace), "its weights need", workspace)


def test_quantized_methods_need_bitsandbytes_that_runs_here(tiny_model_dir, tiny_sft_file, workspace, monkeypatch,
                                                            no_model_loading):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # not installed
    refused_before_starting(tiny(tiny_model_dir, tiny_sft_file, workspace, method="qlora"),
                            "bitsandbytes, which is not installed.*choose lora", workspace)
    gpu_only = types.ModuleType("bitsandbytes")
    gpu_only.supported_torch_devices = {"cuda"}
    monkeypatch.setitem(sys.modules, "bitsandbytes", gpu_only)
    refused_before_starting(tiny(tiny_model_dir, tiny_sft_file, workspace, method="lora-8bit"),
                            "8-bit support from bitsandbytes on the cpu.*runs only on: cuda", workspace)
    check_run(tiny(tiny_model_dir, tiny_sft_file, workspace, method="qlora"), device="cuda", available=2**40)


def test_a_hub_model_not_on_this_machine_is_not_downloaded_to_check_it(monkeypatch):
    monkeypatch.setattr(preflight, "resolve_source", lambda name: pytest.fail("resolve_source would download it"))
    assert model_folder("someone/a-model-not-cached-here") is None
    check_run(RunConfig(base_model="someone/a-model-not-cached-here", dataset="d.jsonl", cutoff_length=10**6))
