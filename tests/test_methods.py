"""Every method trains a few steps on the tiny model, its loss goes down, and its result loads back and generates."""

from __future__ import annotations

import pytest
import torch

from studio.config import METHODS, RunConfig, load_config
from studio.events import read_events
from studio.generate import GenerationSettings, generate_text, load_for_chat
from studio.methods import apply_method, count_parameters, freeze_lower_layers, method_bits, saves_adapter
from studio.train import run_training

LEARNING_RATES = {"full": 3e-3, "freeze": 3e-3, "ia3": 3e-2, "prefix-tuning": 3e-2, "prompt-tuning": 1e-1,
                  "p-tuning": 1e-2}


def tiny_config(model_dir, dataset, tmp_path, method: str, **overrides) -> RunConfig:
    values = dict(base_model=str(model_dir), method=method, dataset=str(dataset), output_dir=str(tmp_path / method),
                  max_steps=12, batch_size=4, learning_rate=LEARNING_RATES.get(method, 1e-2), validation_split=0.2,
                  eval_steps=6, save_steps=6, lora_rank=4, lora_alpha=8, lora_dropout=0.0, warmup_ratio=0.0,
                  lr_scheduler="constant", num_virtual_tokens=4, trainable_layers=1, cutoff_length=64,
                  probe_max_new_tokens=4)
    values.update(overrides)
    return RunConfig(**values)


@pytest.mark.parametrize("method", METHODS)
def test_method_trains_saves_and_loads(method, tiny_model_dir, tiny_sft_file, tmp_path, workspace):
    config = tiny_config(tiny_model_dir, tiny_sft_file, tmp_path, method)
    summary = run_training(config)
    assert summary["status"] == "finished"
    losses = [event["loss"] for event in read_events(tmp_path / method) if "loss" in event]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses
    assert summary["eval_loss"] is not None and summary["trained_tokens"] > 0
    saved = tmp_path / method / ("adapter" if saves_adapter(method) else "model")
    assert saved.is_dir()
    model, tokenizer = load_for_chat(str(tiny_model_dir), tmp_path / method)
    answer = generate_text(model, tokenizer, [{"role": "user", "content": "the sky"}],
                           GenerationSettings(temperature=0, max_new_tokens=4))
    assert isinstance(answer, str)


def test_adapter_loads_with_plain_peft(tiny_model_dir, tiny_sft_file, tmp_path, workspace):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run_training(tiny_config(tiny_model_dir, tiny_sft_file, tmp_path, "lora"))
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
