"""Every method trains a few steps on the tiny model, its loss goes down, and its result loads back with what it
learned (the training answers likelier than before) and answers greedily the same way twice."""

from __future__ import annotations

import pytest
import torch

from studio.config import METHODS, RunConfig, load_config
from studio.data import load_dataset
from studio.events import read_events
from studio.generate import GenerationSettings, generate_text, load_for_chat
from studio.methods import apply_method, count_parameters, freeze_lower_layers, method_bits, saves_adapter
from studio.tokens import IGNORED_LABEL, tokenize_sft
from studio.training import run_training
from tests.conftest import method_config


@pytest.mark.parametrize("method", METHODS)
def test_method_trains_saves_and_loads(method, tiny_model_dir, tiny_sft_file, tmp_path, workspace):
    config = method_config(tiny_model_dir, tiny_sft_file, tmp_path, method)
    summary = run_training(config)
    assert summary["status"] == "finished"
    losses = [event["loss"] for event in read_events(tmp_path / method) if "loss" in event]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses
    assert summary["eval_loss"] is not None and summary["trained_tokens"] > 0
    saved = tmp_path / method / ("adapter" if saves_adapter(method) else "model")
    assert saved.is_dir()
    # What was saved is what was learned: loaded back, it finds the training answers likelier than the base does.
    tuned, tokenizer = load_for_chat(str(tiny_model_dir), tmp_path / method)
    base, _ = load_for_chat(str(tiny_model_dir))
    examples, _ = tokenize_sft(load_dataset(tiny_sft_file).rows[:2], "instruction", tokenizer, 64)
    assert answer_loss(tuned, examples) < answer_loss(base, examples) - 0.05
    answer = generate_text(tuned, tokenizer, [{"role": "user", "content": "the sky"}],
                           GenerationSettings(temperature=0, max_new_tokens=4))
    assert answer == generate_text(tuned, tokenizer, [{"role": "user", "content": "the sky"}],
                                   GenerationSettings(temperature=0, max_new_tokens=4, seed=None))


def answer_loss(model, examples: list[dict]) -> float:
    """Mean cross-entropy of the trained (answer) tokens; prompt methods' virtual tokens are cut off the logits."""
    losses = []
    with torch.no_grad():
        for example in examples:
            ids, labels = torch.tensor([example["input_ids"]]), torch.tensor(example["labels"])
            logits = model(input_ids=ids).logits[0, -ids.size(1):]
            losses.append(float(torch.nn.functional.cross_entropy(logits[:-1], labels[1:], ignore_index=IGNORED_LABEL)))
    return sum(losses) / len(losses)


def test_adapter_loads_with_plain_peft(tiny_model_dir, tiny_sft_file, tmp_path, workspace):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run_training(method_config(tiny_model_dir, tiny_sft_file, tmp_path, "lora"))
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tuned = PeftModel.from_pretrained(base, str(tmp_path / "lora" / "adapter"))
    ours, _ = load_for_chat(str(tiny_model_dir), tmp_path / "lora")
    ids = torch.tensor([[5, 6, 7, 8]])
    assert torch.allclose(tuned(ids).logits, ours(ids).logits, atol=1e-5)


def test_freeze_trains_only_top_layers(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = freeze_lower_layers(AutoModelForCausalLM.from_pretrained(tiny_model_dir), 1)
    trainable = {name.split(".layers.")[1].split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"2"}
    with pytest.raises(ValueError, match="has 3 layers"):
        freeze_lower_layers(model, 5)


def test_lora_trains_a_small_share(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tuned = apply_method(model, RunConfig(method="lora", lora_rank=2), total_steps=10)
    trainable, total = count_parameters(tuned)
    assert 0 < trainable < total * 0.2


def test_unknown_target_modules_names_the_real_ones(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with pytest.raises(ValueError, match="q_proj"):
        apply_method(model, RunConfig(method="lora", target_modules="attention_weights"), total_steps=10)


def test_quantized_methods_load_in_4_and_8_bits():
    assert method_bits("qlora") == 4 and method_bits("lora-8bit") == 8 and method_bits("lora") == 0


def test_every_preset_loads_and_validates():
    from studio.config import list_presets

    names = list_presets()
    assert {"cpu-lora", "qlora-4bit"} <= set(names)
    covered = set()
    for name in names:
        config = load_config(name, {"dataset": "x.jsonl"}).validate()
        covered.add(config.method)
    assert covered == set(METHODS)
