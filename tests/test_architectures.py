"""The architecture matrix: every method on tiny Llama, Qwen2, Qwen3, Gemma 2, Gemma 3, Phi-3, Mistral and GLM-4
models trains through the app's own entry point, answers in chat and exports a folder plain transformers loads;
freeze, all-linear, IA3 targets and the label masks are checked against each family's real layer names and template.
"""

from __future__ import annotations

import math

import pytest
import torch

from studio.config import METHODS, RunConfig
from studio.generate import GenerationSettings, generate_text, load_for_chat
from studio.methods import PROMPT_METHODS, apply_method, saves_adapter
from studio.training import run_training
from tests.conftest import ARCHITECTURES

STANDARD_LINEAR = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
# What "all-linear" adapts in each family: every linear layer of the decoder, never the output head.
ALL_LINEAR = {name: STANDARD_LINEAR for name in ARCHITECTURES} | {
    "phi3": {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"},
    "glm4": {"q_proj", "k_proj", "v_proj", "o_proj", "gate_up_proj", "down_proj"},
}
# What IA3 scales: the attention keys and values and the feed-forward output (PEFT's lists, or studio's names).
IA3_TARGETS = {name: {"k_proj", "v_proj", "down_proj"} for name in ("llama", "mistral", "glm4")} | {
    name: {"q_proj", "v_proj", "down_proj"} for name in ("qwen2", "qwen3", "gemma2", "gemma3")} | {
    "phi3": {"qkv_proj", "down_proj"}}
QUESTION = [{"role": "user", "content": "the sky"}]


def matrix_config(model_dir, dataset, output, method: str) -> RunConfig:
    """Two steps, no validation: the matrix checks that a method runs on a family, not that it learns."""
    return RunConfig(base_model=str(model_dir), method=method, dataset=str(dataset), output_dir=str(output),
                     max_steps=2, batch_size=4, learning_rate=1e-2, validation_split=0.0, eval_steps=0, save_steps=10,
                     lora_rank=4, lora_alpha=8, lora_dropout=0.0, num_virtual_tokens=4, trainable_layers=1,
                     cutoff_length=64)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_method_trains_answers_and_exports(architecture, method, architecture_dirs, tiny_sft_file, tmp_path, workspace):
    from transformers import AutoModelForCausalLM

    from studio.export import export_run

    base, run = architecture_dirs(architecture), tmp_path / "run"
    summary = run_training(matrix_config(base, tiny_sft_file, run, method))
    assert summary["status"] == "finished" and summary["steps"] == 2 and math.isfinite(summary["train_loss"])
    assert (run / ("adapter" if saves_adapter(method) else "model")).is_dir()

    tuned, tokenizer = load_for_chat(None, run)
    assert isinstance(generate_text(tuned, tokenizer, QUESTION, GenerationSettings(temperature=0, max_new_tokens=3)), str)

    if method in PROMPT_METHODS:
        with pytest.raises(ValueError, match="cannot be merged"):
            export_run(run, tmp_path / "merged", merge=True)
        return
    merged = AutoModelForCausalLM.from_pretrained(export_run(run, tmp_path / "merged", merge=True))
    untouched = AutoModelForCausalLM.from_pretrained(base)
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, tuned(ids).logits, atol=1e-3)
        assert not torch.allclose(merged(ids).logits, untouched(ids).logits, atol=1e-6)


@pytest.mark.parametrize("method", PROMPT_METHODS)
@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_prompt_methods_reach_the_model_of_every_family(architecture, method, architecture_dirs):
    """Virtual tokens (prefix-tuning's key/value cache, prompt embeddings) feed the loss: every one gets a gradient."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(architecture_dirs(architecture))
    model = apply_method(model, RunConfig(method=method, num_virtual_tokens=4), total_steps=2)
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    model(input_ids=ids, labels=ids).loss.backward()
    trained = [parameter for parameter in model.parameters() if parameter.requires_grad]
    assert trained and all(parameter.grad is not None and parameter.grad.abs().sum() > 0 for parameter in trained)


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_a_new_prefix_starts_as_a_real_context_in_every_family(architecture, architecture_dirs):
    """The prefix holds the base model's own keys and values for a few vocabulary tokens: the model with it answers
    as the base does after those tokens (PEFT's random vectors would put the loss far from the base's)."""
    from transformers import AutoModelForCausalLM

    from studio.methods import prefix_start_tokens

    config = RunConfig(method="prefix-tuning", num_virtual_tokens=4)
    tuned = apply_method(AutoModelForCausalLM.from_pretrained(architecture_dirs(architecture)), config, 2)
    context = prefix_start_tokens(tuned.get_base_model().get_input_embeddings().num_embeddings, 4, config.seed)
    question = torch.tensor([[5, 9, 14, 3, 7]])
    with torch.no_grad():
        answered = tuned(input_ids=question, attention_mask=torch.ones_like(question)).logits
        with tuned.disable_adapter():
            after_context = tuned(input_ids=torch.cat([context, question], dim=1)).logits[:, 4:]
    assert torch.allclose(answered, after_context, atol=1e-4)


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_freeze_trains_exactly_the_top_layers(architecture, architecture_dirs):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(architecture_dirs(architecture))
    model = apply_method(model, RunConfig(method="freeze", trainable_layers=1), total_steps=2)
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert trainable and trainable == {name for name, _ in model.named_parameters() if name.startswith("model.layers.1.")}


def adapted_layers(model, layer_type) -> set[str]:
    return {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, layer_type)}


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_all_linear_and_ia3_adapt_the_right_layers(architecture, architecture_dirs):
    from peft.tuners.ia3 import IA3Layer
    from peft.tuners.lora import LoraLayer
    from transformers import AutoModelForCausalLM

    folder = architecture_dirs(architecture)
    lora = apply_method(AutoModelForCausalLM.from_pretrained(folder), RunConfig(method="lora"), total_steps=2)
    assert adapted_layers(lora, LoraLayer) == ALL_LINEAR[architecture]
    ia3 = apply_method(AutoModelForCausalLM.from_pretrained(folder), RunConfig(method="ia3"), total_steps=2)
    assert adapted_layers(ia3, IA3Layer) == IA3_TARGETS[architecture]


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_a_target_list_is_checked_against_the_models_own_layers(architecture, architecture_dirs):
    from peft.tuners.lora import LoraLayer
    from transformers import AutoModelForCausalLM

    folder = architecture_dirs(architecture)
    chosen = sorted(ALL_LINEAR[architecture])[:2]
    model = apply_method(AutoModelForCausalLM.from_pretrained(folder),
                         RunConfig(method="lora", target_modules=",".join(chosen)), total_steps=2)
    assert adapted_layers(model, LoraLayer) == set(chosen)
    with pytest.raises(ValueError, match=f"linear layers: .*{sorted(ALL_LINEAR[architecture])[0]}"):
        apply_method(AutoModelForCausalLM.from_pretrained(folder),
                     RunConfig(method="lora", target_modules="attention_weights"), total_steps=2)


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_replies_are_learned_with_a_token_that_stops_generation(architecture, architecture_dirs):
    """Each template's reply is trained up to a token generation stops on, padded batches keep it (families
    without a pad token pad with end-of-text), and the prompt is not trained."""
    from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq

    from studio.generate import stop_token_ids
    from studio.models import load_tokenizer
    from studio.tokens import render_example, tokenize_sft

    folder = architecture_dirs(architecture)
    tokenizer = load_tokenizer(folder)
    assert tokenizer.pad_token is not None
    rows = [{"instruction": "the sky", "input": "", "output": "blue"},
            {"instruction": "classify the review", "input": "great food and friendly staff", "output": "positive"}]
    examples, _ = tokenize_sft(rows, "instruction", tokenizer, cutoff_length=64)
    batch = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)(examples)
    stops = set(stop_token_ids(AutoModelForCausalLM.from_pretrained(folder), tokenizer))
    for row, labels in zip(rows, batch["labels"].tolist()):
        learned = [token for token in labels if token != -100]
        assert row["output"] in tokenizer.decode(learned) and set(learned) & stops
        assert row["instruction"] not in tokenizer.decode(learned)
    shown, trained = render_example(rows[0], "instruction", tokenizer)[-1]  # the preview shows the same end
    assert trained and any(token in shown for token in tokenizer.all_special_tokens)


@pytest.mark.parametrize("architecture, reason", [("gemma2", "System role not supported"),
                                                  ("mistral", "Only user and assistant roles")])
def test_a_template_without_a_system_role_refuses_it_with_the_row(architecture, reason):
    from studio.tokens import tokenize_sft
    from tests.conftest import build_architecture_tokenizer

    rows = [{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                          {"role": "assistant", "content": "hello"}]}]
    with pytest.raises(ValueError, match=f"Row 1: the model's chat template cannot render.*{reason}"):
        tokenize_sft(rows, "chat", build_architecture_tokenizer(architecture), cutoff_length=64)
