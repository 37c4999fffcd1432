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


def test_long_examples_of_an_fp32_model_attend_at_the_autocast_dtype(tiny_model_dir, monkeypatch):
    """Full and freeze runs keep the model in fp32 under bf16 autocast: its queries and keys come out of the
    rotation at fp32 beside a bf16 value. A long example then attends with all three at bf16, and the loss and
    gradients are those of transformers' own attention under the same autocast."""
    from transformers import AutoModelForCausalLM

    from studio.training import packing

    monkeypatch.setattr(packing, "SHORT_EXAMPLE", 4)  # the 8- and 6-token examples count as long
    batch = model_inputs(PackingCollator(3)(examples([8, 6, 3], 100)))
    results = []
    for packed in (False, True):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        assert not packed or packed_attention_if_exact(model)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(**batch).loss
        loss.backward()
        results.append((loss.detach(), model.lm_head.weight.grad.clone()))
    (plain_loss, plain_grad), (loss, grad) = results
    assert torch.isfinite(loss) and abs(loss - plain_loss) < 0.02 * abs(plain_loss)
    assert torch.allclose(grad, plain_grad, rtol=0.05, atol=0.05 * plain_grad.abs().max())
