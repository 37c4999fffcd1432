"""Padded batches scored as one packed row give the per-token outputs, loss and gradients the padded batch gives."""

from __future__ import annotations

import pytest
import torch

from studio.training.unpadded import unpad_scored_batches


def scored_batch(vocab_size: int, left=(0, 0, 0, 0), lengths=(9, 4, 12, 6), prompt: int = 3):
    """A padded batch as TRL's trainers make it: input_ids, attention_mask and labels, where only the answer (after
    `prompt` tokens) is scored. Each row's tokens start after `left` padding (GRPO's prompts are padded on the
    left, its answers on the right; DPO pads on the right)."""
    generator = torch.Generator().manual_seed(2)
    width = max(pad + length for pad, length in zip(left, lengths))
    input_ids = torch.zeros((len(lengths), width), dtype=torch.long)
    mask = torch.zeros((len(lengths), width), dtype=torch.long)
    labels = torch.full((len(lengths), width), -100)
    for row, (pad, length) in enumerate(zip(left, lengths)):
        input_ids[row, pad:pad + length] = torch.randint(4, vocab_size, (length,), generator=generator)
        mask[row, pad:pad + length] = 1
        labels[row, pad + prompt:pad + length] = input_ids[row, pad + prompt:pad + length]
    return input_ids, mask, labels


@pytest.mark.parametrize("left", [(0, 0, 0, 0), (2, 0, 5, 1)], ids=["right-padded", "padded-both-sides"])
def test_padded_batches_are_scored_as_one_packed_row_with_the_same_log_probs_and_gradients(tiny_model_dir, left):
    """TRL's fused head on a padded batch, then the same batch through unpad_scored_batches: per-token
    log-probabilities and metrics equal in the padded layout, the same gradients, and the model saw one row."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    def scored(unpadded: bool):
        torch.manual_seed(0)
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        add_fused_lm_head(base, outputs=("log_probs", "entropy", "mean_logits", "is_top1"))
        model = get_peft_model(base, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
        if unpadded:
            assert unpad_scored_batches(model)
        shapes = []
        model.get_base_model().model.register_forward_hook(lambda module, args, kwargs, out: shapes.append(
            tuple(kwargs["input_ids"].shape)), with_kwargs=True)
        input_ids, mask, labels = scored_batch(model.config.vocab_size, left)
        outputs = model(input_ids=input_ids, attention_mask=mask, labels=labels, fused_lm_head=True, use_cache=False)
        outputs.log_probs.sum().backward()
        gradients = {name: parameter.grad.clone() for name, parameter in model.named_parameters()
                     if parameter.grad is not None}
        return outputs, gradients, shapes[0]

    padded, padded_gradients, padded_shape = scored(False)
    packed, packed_gradients, packed_shape = scored(True)
    assert padded_shape == (4, max(pad + length for pad, length in zip(left, (9, 4, 12, 6)))) and packed_shape == (1, 31)
    for name in ("log_probs", "entropy", "mean_logits"):
        assert torch.allclose(getattr(packed, name), getattr(padded, name), atol=1e-5), name
    assert torch.equal(packed.is_top1, padded.is_top1) and torch.equal(packed.label_mask, padded.label_mask)
    assert packed.label_mask.sum() == 31 - 4 * 3 and (packed.log_probs[~packed.label_mask] == 0).all()
    assert torch.allclose(packed.loss, padded.loss, atol=1e-6)
    assert padded_gradients.keys() == packed_gradients.keys() and len(packed_gradients) > 0
    for name, gradient in padded_gradients.items():
        assert torch.allclose(packed_gradients[name], gradient, atol=1e-5, rtol=1e-4), name


def test_a_batch_whose_rows_are_not_one_block_each_passes_through_unchanged(tiny_model_dir):
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    add_fused_lm_head(model)
    input_ids, mask, labels = scored_batch(model.config.vocab_size)
    mask[2, 5] = 0  # a hole in the third row
    labels[2, 5] = -100
    expected = model(input_ids=input_ids, attention_mask=mask, labels=labels, fused_lm_head=True).log_probs
    assert unpad_scored_batches(model)
    seen = []
    model.model.register_forward_hook(lambda module, args, kwargs, out: seen.append(kwargs["input_ids"].shape),
                                      with_kwargs=True)
    assert torch.equal(model(input_ids=input_ids, attention_mask=mask, labels=labels, fused_lm_head=True).log_probs,
                       expected)
    assert model(input_ids=input_ids, attention_mask=mask).logits.shape == (4, 12, model.config.vocab_size)
    assert seen == [(4, 12), (4, 12)]


def test_padded_pairs_are_scored_by_a_reward_model_as_one_packed_row(tiny_model_dir):
    """A sequence classifier (LoRA and its new score head): the scores of a padded batch and their gradients are
    the padded batch's, and the backbone saw one row."""
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification

    from studio.training.unpadded import unpad_classified_batches

    def scored(unpadded: bool):
        torch.manual_seed(0)
        base = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1)
        base.config.pad_token_id = 0
        model = get_peft_model(base, LoraConfig(task_type=TaskType.SEQ_CLS, r=4, target_modules="all-linear",
                                                init_lora_weights=False))
        if unpadded:
            assert unpad_classified_batches(model)
        shapes = []
        model.get_base_model().model.register_forward_hook(lambda module, args, kwargs, out: shapes.append(
            tuple((args[0] if args else kwargs["input_ids"]).shape)), with_kwargs=True)
        input_ids, mask, _ = scored_batch(model.config.vocab_size)
        logits = model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits
        (logits * torch.tensor([[1.0], [-2.0], [0.5], [3.0]])).sum().backward()
        gradients = {name: parameter.grad.clone() for name, parameter in model.named_parameters()
                     if parameter.grad is not None}
        return logits, gradients, shapes[-1]

    padded, padded_gradients, padded_shape = scored(False)
    packed, packed_gradients, packed_shape = scored(True)
    assert padded_shape == (4, 12) and packed_shape == (1, 31)
    assert packed.shape == (4, 1) and torch.allclose(packed, padded, atol=1e-5)
    assert padded_gradients.keys() == packed_gradients.keys() and any("score" in name for name in packed_gradients)
    for name, gradient in padded_gradients.items():
        assert torch.allclose(packed_gradients[name], gradient, atol=1e-5, rtol=1e-4), name


def test_a_classifier_without_a_pad_token_keeps_its_own_forward(tiny_model_dir):
    from transformers import AutoModelForSequenceClassification

    from studio.training.unpadded import unpad_classified_batches

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1)
    model.config.pad_token_id = None
    own = model.forward
    assert not unpad_classified_batches(model) and model.forward == own
