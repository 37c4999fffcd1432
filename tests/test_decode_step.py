"""The written-out step gives the forward's logits, prompt then token by token, past its buffers' first room,
side by side under an adapter, for Llama, Qwen2 and Mistral, and is taken only where it reproduces the forward."""

from __future__ import annotations

import copy

import pytest
import torch
from peft import LoraConfig, PromptTuningConfig, get_peft_model
from transformers import DynamicCache

from studio import cpu_decode
from studio.cpu_decode import prepare_for_decoding
from studio.decode_step import StepCache, written_step
from studio.fused_projections import fuse_projections
from studio.generate import Lane
from tests.conftest import build_tiny_model

PROMPT = torch.tensor([[5, 6, 7, 8, 9, 10, 11]])


def chat_ready(model, kernel: str = "small_batch"):
    model.eval()
    fuse_projections(model)
    prepare_for_decoding(model, kernel=kernel)
    return model


def forward_logits(model, input_ids, cache) -> torch.Tensor:
    return model(input_ids=input_ids, past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1]


@pytest.mark.parametrize("kernel", ["small_batch", "linear"])
def test_the_step_gives_the_forwards_logits_token_after_token(kernel, monkeypatch):
    monkeypatch.setattr(cpu_decode, "LARGE_WEIGHT", 0)  # the tiny model's layers take the decoding kernel too
    model = chat_ready(build_tiny_model(64), kernel)
    step = written_step(model)
    assert step is not None
    ours, theirs = StepCache(), DynamicCache(config=model.config)
    tokens, differences = PROMPT, 0
    with torch.inference_mode():
        for _ in range(300):  # past the room the buffers start with (the prompt and 256 more)
            logits, expected = step(tokens, ours), forward_logits(model, tokens, theirs)
            assert torch.allclose(logits, expected, atol=1e-5)
            differences += not torch.equal(logits, expected)
            tokens = expected.argmax(-1, keepdim=True)
    assert ours.length == theirs.get_seq_length() == PROMPT.shape[1] + 299
    assert ours.keys[0].shape[2] > PROMPT.shape[1] + 256  # the buffers grew, keeping what they held
    assert differences == 0  # the same operators in the same order: the same numbers


def test_side_by_side_rows_under_an_adapter_are_the_forwards():
    torch.manual_seed(0)
    model = get_peft_model(build_tiny_model(64), LoraConfig(r=4, target_modules="all-linear",
                                                            init_lora_weights=False))
    model = chat_ready(model)
    assert model.studio_adapter_rows is not None
    with_step, without = copy.deepcopy(model), model
    with_step.studio_step = written_step(with_step)
    assert with_step.studio_step is not None and getattr(without, "studio_step", None) is None
    lanes = [Lane(with_step, rows=2, adapter_rows=slice(1, 2)), Lane(without, rows=2, adapter_rows=slice(1, 2))]
    tokens = [PROMPT.expand(2, -1)] * 2
    with torch.inference_mode():
        for _ in range(8):
            ours, theirs = (lane.logits(ids) for lane, ids in zip(lanes, tokens))
            assert torch.allclose(ours, theirs, atol=1e-5)
            assert not torch.allclose(theirs[0], theirs[1])  # the base row and the tuned row
            tokens = [theirs.argmax(-1, keepdim=True)] * 2
    assert isinstance(lanes[0].cache, StepCache) and isinstance(lanes[1].cache, DynamicCache)


@pytest.mark.parametrize("architecture", ["llama", "qwen2", "mistral"])
def test_each_family_it_takes_gets_the_forwards_logits(architecture, architecture_dirs):
    from transformers import AutoModelForCausalLM

    model = chat_ready(AutoModelForCausalLM.from_pretrained(architecture_dirs(architecture)))
    step = written_step(model)
    assert step is not None
    ours, theirs = StepCache(), DynamicCache(config=model.config)
    tokens = PROMPT
    with torch.inference_mode():
        for _ in range(24):
            logits, expected = step(tokens, ours), forward_logits(model, tokens, theirs)
            assert torch.equal(logits, expected)
            tokens = expected.argmax(-1, keepdim=True)


def test_only_models_it_reproduces_take_the_step(architecture_dirs):
    from transformers import AutoConfig, AutoModelForCausalLM

    assert written_step(chat_ready(build_tiny_model(64))) is not None
    gemma = chat_ready(AutoModelForCausalLM.from_pretrained(architecture_dirs("gemma2")))
    assert written_step(gemma) is None  # another family: its own forward
    config = AutoConfig.from_pretrained(architecture_dirs("qwen2"))
    config.use_sliding_window, config.sliding_window, config.layer_types = True, 4, ["sliding_attention"] * 2
    windowed = chat_ready(AutoModelForCausalLM.from_config(config))
    assert written_step(windowed) is None  # a window hides positions the step would attend to
    prompts = get_peft_model(build_tiny_model(64), PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))
    assert written_step(prompts) is None  # virtual tokens: generate's path
    hooked = chat_ready(build_tiny_model(64))
    hooked.model.layers[1].mlp.register_forward_hook(lambda module, args, output: output)
    assert written_step(hooked) is None  # the step would skip the hook
    assert written_step(build_tiny_model(64).train()) is None


def test_a_second_prompt_into_a_filled_cache_is_refused():
    model = chat_ready(build_tiny_model(64))
    step, cache = written_step(model), StepCache()
    with torch.inference_mode():
        step(PROMPT, cache)
        step(PROMPT[:, :1], cache)
        with pytest.raises(ValueError, match="a token at a time"):
            step(PROMPT, cache)
