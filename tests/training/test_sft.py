"""The training loop's own parts: the trained-token loss equals the model's loss, stages check their data."""

from __future__ import annotations

import pytest
import torch

from studio.config import RunConfig
from studio.examples import prepare_rows
from studio.training import run_training
from studio.training.sft import accepts_logits_mask, trained_token_loss


def batch_with_masked_prompt(vocab_size: int) -> dict:
    torch.manual_seed(0)
    input_ids = torch.randint(4, vocab_size, (3, 12))
    labels = torch.full_like(input_ids, -100)
    labels[0, 8:] = input_ids[0, 8:]
    labels[1, 3:6] = input_ids[1, 3:6]
    labels[2, 10:] = input_ids[2, 10:]
    attention_mask = torch.ones_like(input_ids)
    attention_mask[2, :2] = 0
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


@pytest.mark.parametrize("method", ["full", "lora"])
def test_trained_token_loss_equals_the_models_loss_and_gradients(tiny_model_dir, method):
    from transformers import AutoModelForCausalLM

    from studio.methods import apply_method

    model = apply_method(AutoModelForCausalLM.from_pretrained(tiny_model_dir), RunConfig(method=method, lora_dropout=0.0), 10)
    assert accepts_logits_mask(model)
    batch = batch_with_masked_prompt(model.config.vocab_size)
    expected = model(**batch).loss
    expected.backward()
    expected_grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
    model.zero_grad()
    ours = trained_token_loss(model, batch)
    ours.backward()
    assert torch.allclose(ours, expected, atol=1e-6)
    for got, want in zip((p.grad for p in model.parameters() if p.requires_grad), expected_grads):
        assert torch.allclose(got, want, atol=1e-6)


def test_prompt_methods_keep_the_full_logits_path(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from studio.methods import apply_method

    model = apply_method(AutoModelForCausalLM.from_pretrained(tiny_model_dir), RunConfig(method="prompt-tuning"), 10)
    assert not accepts_logits_mask(model)


def test_adalora_trains_on_its_own_loss_with_the_orthogonal_regularisation(tiny_model_dir):
    """AdaLoRA's model adds the regularisation that keeps its singular vectors orthogonal to the loss it
    returns; a loss computed outside the model would leave it out."""
    from transformers import AutoModelForCausalLM

    from studio.methods import apply_method

    model = apply_method(AutoModelForCausalLM.from_pretrained(tiny_model_dir), RunConfig(method="adalora"), 10)
    assert not accepts_logits_mask(model)
    batch = batch_with_masked_prompt(model.config.vocab_size)
    assert model(**batch).loss > trained_token_loss(model, batch) + 1e-3


def test_stage_and_data_shape_must_agree(tiny_sft_file, tiny_text_file, workspace):
    with pytest.raises(ValueError, match="Stage 'pretrain' needs raw text"):
        prepare_rows(RunConfig(dataset=str(tiny_sft_file), stage="pretrain"))
    with pytest.raises(ValueError, match="Stage 'sft' needs instruction rows"):
        prepare_rows(RunConfig(dataset=str(tiny_text_file), stage="sft"))
    shape, train, validation = prepare_rows(RunConfig(dataset=str(tiny_sft_file), validation_split=0.25))
    assert shape == "instruction" and len(train) == 9 and len(validation) == 3


def test_pretrain_stage_trains_on_raw_text(tiny_model_dir, tiny_text_file, tmp_path, workspace):
    config = RunConfig(base_model=str(tiny_model_dir), stage="pretrain", dataset=str(tiny_text_file),
                       output_dir=str(tmp_path / "pretrain"), max_steps=3, batch_size=4, learning_rate=1e-2,
                       probe_prompts=["the cat"], probe_max_new_tokens=3, eval_steps=3)
    summary = run_training(config)
    assert summary["status"] == "finished" and summary["trained_tokens"] > 0
    assert (tmp_path / "pretrain" / "adapter" / "adapter_model.safetensors").exists()


def test_a_missing_dataset_fails_with_a_clear_message(tiny_model_dir, tmp_path, workspace):
    config = RunConfig(base_model=str(tiny_model_dir), dataset=str(tmp_path / "nope.jsonl"), output_dir=str(tmp_path / "r"))
    with pytest.raises(ValueError, match="No dataset file"):
        run_training(config)


def test_default_probes_come_with_their_held_out_answers(tiny_sft_file, workspace):
    from studio.training.common import default_probes, probe_references

    config = RunConfig(dataset=str(tiny_sft_file), validation_split=0.25)
    shape, _, validation = prepare_rows(config)
    prompts, answers = default_probes(config, shape, validation), probe_references(config, shape, validation)
    assert len(prompts) == len(answers) == 2
    assert answers == [row["output"] for row in validation[:2]]
    chat = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}]
    assert probe_references(config, "chat", chat) == ["hello"]
    preference = [{"prompt": "pick one", "chosen": "this", "rejected": "that"}]
    assert probe_references(RunConfig(dataset="x", stage="dpo"), "preference", preference) == ["this"]
    # The user's own prompts have no reference answer.
    assert probe_references(RunConfig(dataset="x", probe_prompts=["a", "b"]), shape, validation) == ["", ""]


def test_adalora_validation_loss_is_the_language_models_alone(tiny_model_dir, tmp_path):
    """The regularisation is for training; a validation loss with it would rank AdaLoRA below methods whose
    answers it matches."""
    from transformers import AutoModelForCausalLM, TrainingArguments

    from studio.methods import apply_method
    from studio.training.sft import make_trainer_class

    model = apply_method(AutoModelForCausalLM.from_pretrained(tiny_model_dir), RunConfig(method="adalora"), 10)
    assert accepts_logits_mask(model, own_loss=False)
    batch = batch_with_masked_prompt(model.config.vocab_size)
    trainer = make_trainer_class()(model=model, args=TrainingArguments(str(tmp_path), use_cpu=True, report_to=[]))
    loss, _, _ = trainer.prediction_step(model, batch, prediction_loss_only=True)
    assert torch.allclose(loss, trained_token_loss(model, batch), atol=1e-6)
    assert model(**batch).loss > loss + 1e-3

