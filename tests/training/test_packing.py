"""Packed batches give the loss and gradients padded batches give, and keep examples apart."""

from __future__ import annotations

import pytest
import torch

from studio.training.packing import (
    PACKED_ATTENTION, ROW_TOKENS, PackingCollator, example_bounds, model_inputs, pack_rows, packed_attention_if_exact,
    packing_collator, packs_exactly,
)
from studio.training.sft import trained_token_loss

LENGTHS = [9, 3, 14, 5, 7, 2, 11, 6]


def examples(lengths, vocab_size: int, prompt: int = 2) -> list[dict]:
    """Rows whose first `prompt` tokens are masked, like SFT examples."""
    generator = torch.Generator().manual_seed(1)
    rows = []
    for length in lengths:
        ids = torch.randint(4, vocab_size, (length,), generator=generator).tolist()
        rows.append({"input_ids": ids, "labels": [-100] * min(prompt, length - 1) + ids[min(prompt, length - 1):]})
    return rows


def test_rows_hold_every_example_once_within_the_longest():
    rows = pack_rows(LENGTHS, max(LENGTHS))
    assert sorted(index for row in rows for index in row) == list(range(len(LENGTHS)))
    assert all(sum(LENGTHS[index] for index in row) <= max(LENGTHS) for row in rows)
    assert len(rows) == 5  # 14 | 11+3 | 9+5 | 7+6 | 2


def test_collator_restarts_positions_and_drops_each_first_label():
    batch = PackingCollator(pad_token_id=0)(examples([4, 2, 1, 3], 50, prompt=0))
    assert batch["input_ids"].shape == (3, 4)  # 4 | 3+1 | 2 and padding
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3], [0, 1, 2, 0], [0, 1, 0, 1]]
    assert batch["labels"][1, 0] == -100 and batch["labels"][1, 3] == -100 and batch["labels"][1, 1] != -100
    assert batch["labels"][2, 2:].tolist() == [-100, -100]
    assert batch["attention_mask"].sum() == 10
    assert "attention_mask" not in model_inputs(batch)


def test_with_a_row_length_a_batch_of_short_examples_is_one_row_without_padding():
    batch = PackingCollator(pad_token_id=0, row_tokens=64)(examples(LENGTHS, 50))
    assert batch["input_ids"].shape == (1, sum(LENGTHS)) and batch["attention_mask"].all()
    starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist()
    assert len(starts) == len(LENGTHS)
    assert PackingCollator(pad_token_id=0, row_tokens=20)(examples(LENGTHS, 50))["input_ids"].shape == (3, 20)
    assert PackingCollator(pad_token_id=0, row_tokens=4)(examples(LENGTHS, 50))["input_ids"].shape[1] == 14


def test_rows_are_as_long_as_the_attention_allows(tiny_model_dir):
    """Per-example attention packs into long rows; the model's own attention only up to the longest example (its
    mask grows with the row); a prompt method not at all."""
    from peft import PromptTuningConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert packing_collator(model, 0).row_tokens == ROW_TOKENS
    windowed = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    windowed.config.sliding_window = 4
    assert packing_collator(windowed, 0).row_tokens == 0
    prompt = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                            PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))
    assert packing_collator(prompt, 0) is None


@pytest.mark.parametrize("attention", ["sdpa", "per-example", "per-example-one-row"])
@pytest.mark.parametrize("method", ["lora", "full"])
def test_packed_loss_and_gradients_equal_padded(tiny_model_dir, method, attention):
    from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq

    from studio.config import RunConfig
    from studio.methods import apply_method
    from tests.conftest import build_tiny_tokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = apply_method(model, RunConfig(method=method, lora_dropout=0.0), 10)
    if attention.startswith("per-example"):
        assert packed_attention_if_exact(model)
    rows = examples(LENGTHS, model.config.vocab_size)

    padded = DataCollatorForSeq2Seq(build_tiny_tokenizer(), padding=True, label_pad_token_id=-100)(
        [dict(row) for row in rows])
    model.zero_grad()
    reference = model(**padded).loss
    reference.backward()
    expected = {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}

    model.zero_grad()
    packed = PackingCollator(3, ROW_TOKENS if attention == "per-example-one-row" else 0)(rows)
    assert len(packed["input_ids"]) == (1 if attention == "per-example-one-row" else 5)
    loss = trained_token_loss(model, model_inputs(packed))
    loss.backward()
    assert torch.allclose(loss, reference, atol=1e-5)
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            assert torch.allclose(parameter.grad, expected[name], atol=1e-5), name


@pytest.mark.parametrize("per_example", [False, True])
def test_no_example_sees_another(tiny_model_dir, per_example):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    if per_example:
        assert packed_attention_if_exact(model)
    rows = examples([8, 5, 3], model.config.vocab_size)
    batch = model_inputs(PackingCollator(3)(rows))
    assert batch["position_ids"][1].tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    changed = {key: value.clone() if torch.is_tensor(value) else value for key, value in batch.items()}
    changed["input_ids"][1, 5:] = 7  # rewrite the second example of the second row only
    with torch.no_grad():
        before, after = model(**batch).logits, model(**changed).logits
    assert torch.allclose(before[1, :5], after[1, :5], atol=1e-6)
    assert not torch.allclose(before[1, 5:], after[1, 5:])


def test_packing_is_checked_on_the_model(tiny_model_dir):
    from peft import PromptTuningConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert packs_exactly(model)
    prompt = get_peft_model(model, PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))
    assert not packs_exactly(prompt)


def test_runs_record_whether_they_packed(tiny_model_dir, tiny_sft_file, tmp_path, workspace):
    from studio.events import read_events
    from studio.training import run_training
    from tests.conftest import method_config as tiny_config

    run_training(tiny_config(tiny_model_dir, tiny_sft_file, tmp_path, "lora", max_steps=2))
    prepared = next(event for event in read_events(tmp_path / "lora") if event.get("event") == "prepared")
    assert prepared["packing"] is True


def block_causal(lengths: list[int]) -> torch.Tensor:
    example = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    index = torch.arange(sum(lengths))
    return (example[:, None] == example[None, :]) & (index[:, None] >= index[None, :])


def test_examples_are_read_only_from_an_exact_block_mask():
    positions = torch.tensor([[0, 1, 2, 0, 1, 0]])
    mask = block_causal([3, 2, 1])[None, None]
    assert example_bounds(mask, positions, 6, 6) == [[(0, 3), (3, 5), (5, 6)]]
    assert example_bounds(None, torch.arange(4)[None], 4, 4) == [[(0, 4)]]  # a plain causal row
    leaky = mask.clone()
    leaky[0, 0, 4, 1] = True  # a token that sees the example before it
    assert example_bounds(leaky, positions, 6, 6) is None
    padded = torch.tril(torch.ones(6, 6, dtype=torch.bool))[None, None].clone()
    padded[..., :2] = False  # left padding
    assert example_bounds(padded, torch.arange(6)[None], 6, 6) is None
    assert example_bounds(None, torch.tensor([[5]]), 1, 6) is None  # a decoding step over a cache
    assert example_bounds(mask.float(), positions, 6, 6) is None
    assert example_bounds(mask, None, 6, 6) is None


def test_per_example_attention_is_for_training_only_and_never_saved(tiny_model_dir, tmp_path):
    """The switch changes the live model only: a saved model loads with SDPA, and a model on another device or
    with a sliding window keeps its own attention."""
    import json

    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert packed_attention_if_exact(model) and model.config._attn_implementation == PACKED_ATTENTION
    model.save_pretrained(tmp_path)
    assert "studio" not in json.dumps(json.loads((tmp_path / "config.json").read_text()))
    assert AutoModelForCausalLM.from_pretrained(tmp_path).config._attn_implementation == "sdpa"
    windowed = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    windowed.config.sliding_window = 4
    assert not packed_attention_if_exact(windowed) and windowed.config._attn_implementation == "sdpa"


def test_short_examples_attend_in_fp32_under_bf16_autocast(tiny_model_dir):
    """The CPU flash kernel is faster on short rows in fp32 than in bf16, and no less exact."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert packed_attention_if_exact(model)
    batch = model_inputs(PackingCollator(3)(examples([8, 5, 3], model.config.vocab_size)))
    seen = []
    from transformers.integrations import sdpa_attention

    original = sdpa_attention.sdpa_attention_forward

    def spy(module, query, *args, **kwargs):
        seen.append(query.dtype)
        return original(module, query, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch, torch.autocast("cpu", dtype=torch.bfloat16):
        patch.setattr(sdpa_attention, "sdpa_attention_forward", spy)
        model(**batch)
    assert seen and set(seen) == {torch.float32}


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

    from studio.training.packing import unpad_scored_batches

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

    from studio.training.packing import unpad_scored_batches

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
