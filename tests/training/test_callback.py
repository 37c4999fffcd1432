"""The training callback's probes: greedy answers to the watched prompts, all in one batch."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from studio.training.callback import answer_probes
from tests.conftest import build_architecture_model, build_architecture_tokenizer


@pytest.mark.parametrize("stage", ["sft", "pretrain"])
def test_probes_answered_in_one_batch_equal_each_answered_alone(stage):
    """A family without a pad token (Llama 3's), chat template and raw text alike: the left-padded batch gives
    each prompt the answer it gets alone, the model goes back to training mode and the tokenizer is left as it was."""
    tokenizer = build_architecture_tokenizer("llama")
    model = build_architecture_model("llama", tokenizer).train()
    config = SimpleNamespace(stage=stage, probe_max_new_tokens=6)
    prompts = ["hello how are you", "what is the colour of the sky today and why"]
    together = answer_probes(model, tokenizer, prompts, config)
    alone = [answer_probes(model, tokenizer, [prompt], config)[0] for prompt in prompts]
    assert together == alone and all(together) and model.training
    assert tokenizer.pad_token is None and tokenizer.padding_side == "right"


def test_prompt_methods_answer_each_probe_alone(tiny_model_dir):
    """Prompt tuning's virtual tokens would sit before the padding: its probes are answered one at a time."""
    import peft
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = peft.get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                                peft.PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))
    calls = []
    generate = model.generate
    model.generate = lambda **kwargs: calls.append(kwargs["input_ids"].shape[0]) or generate(**kwargs)
    answers = answer_probes(model, tokenizer, ["the sky", "hello how are you"], SimpleNamespace(stage="sft",
                                                                                                probe_max_new_tokens=3))
    assert calls == [1, 1] and len(answers) == 2
