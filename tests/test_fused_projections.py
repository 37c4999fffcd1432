"""Stacked sibling projections (q, k, v; gate, up) give the model's own outputs, hold no more memory, keep
adapters and quantization as they were, and keep no input or output alive once a group is served."""

from __future__ import annotations

import copy

import pytest
import torch
from peft import LoraConfig, get_peft_model

from studio import cpu_decode
from studio.cpu_decode import SmallBatchLinear, prepare_for_decoding
from studio.fused_projections import ProjectionSlice, StackedOutput, fuse_projections
from studio.precision import Int4Linear, Int8Linear, apply_precision, weight_bytes
from tests.conftest import ARCHITECTURES, build_tiny_model


IDS = torch.tensor([[5, 6, 7, 8, 9, 10, 11]])


def logits(model, ids=IDS) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits


def decoded(model, steps: int = 6) -> list[int]:
    """Greedy tokens one at a time over the model's cache: the one- and two-row products decoding runs."""
    with torch.inference_mode():
        return model.generate(IDS, max_new_tokens=steps, do_sample=False, pad_token_id=0)[0].tolist()


def stacked_outputs(model) -> list[StackedOutput]:
    return list({id(piece.stacked): piece.stacked for piece in model.modules()
                 if isinstance(piece, ProjectionSlice)}.values())


@pytest.mark.parametrize("kernel", ["small_batch", "linear"])
def test_stacked_projections_give_the_same_outputs_and_answers(kernel, monkeypatch):
    monkeypatch.setattr(cpu_decode, "LARGE_WEIGHT", 0)  # the tiny model's layers take the decoding kernel too
    plain = build_tiny_model(64).eval()
    fused = copy.deepcopy(plain)
    size = weight_bytes(plain)
    assert fuse_projections(fused) == 3 * 2  # q, k, v and gate, up in each of 3 layers
    prepare_for_decoding(fused, kernel=kernel)
    attention, mlp = fused.model.layers[0].self_attn, fused.model.layers[0].mlp
    assert type(attention.q_proj) is ProjectionSlice and type(mlp.up_proj) is ProjectionSlice
    assert (type(mlp.studio_fused_gate_up) is SmallBatchLinear) == (kernel == "small_batch")
    assert attention.studio_fused_q_k_v.weight.shape == (64 + 2 * 32, 64)
    assert torch.equal(attention.k_proj.weight, plain.model.layers[0].self_attn.k_proj.weight)
    assert weight_bytes(fused) == size  # the projections' weights moved; none is held twice
    assert torch.allclose(logits(fused), logits(plain), atol=1e-5)
    for rows in (1, 2):
        ids = IDS[:, :1].repeat(rows, 1)
        assert torch.allclose(logits(fused, ids), logits(plain, ids), atol=1e-5)
    assert decoded(fused) == decoded(plain)
    assert all(output.held is None for output in stacked_outputs(fused))


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_every_family_answers_as_before(architecture, architecture_dirs):
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(architecture_dirs(architecture)).eval()
    fused = copy.deepcopy(plain)
    stacked = fuse_projections(fused)
    # Phi-3 keeps q, k, v and gate, up in one matrix each already, GLM-4 gate and up: nothing to stack there.
    assert stacked == {"phi3": 0, "glm4": 1}.get(architecture, 2) * plain.config.num_hidden_layers
    assert torch.allclose(logits(fused), logits(plain), atol=1e-5)
    assert decoded(fused) == decoded(plain)


def test_a_projection_given_another_input_computes_its_own():
    model = build_tiny_model(64).eval()
    fuse_projections(model)
    attention = model.model.layers[0].self_attn
    first, other = torch.randn(1, 3, 64), torch.randn(1, 3, 64)
    with torch.no_grad():
        query = attention.q_proj(first)
        key = attention.k_proj(other)  # not the input q was given: no columns of q's product
        assert torch.allclose(query, torch.nn.functional.linear(first, attention.q_proj.weight), atol=1e-6)
        assert torch.allclose(key, torch.nn.functional.linear(other, attention.k_proj.weight), atol=1e-6)
        # Interleaved as two forwards on two threads could be: each gets its own input's columns.
        attention.q_proj(first)
        attention.q_proj(other)
        value = attention.v_proj(first)
        assert torch.allclose(value, torch.nn.functional.linear(first, attention.v_proj.weight), atol=1e-6)


def test_an_adapter_stays_on_its_projection_and_the_result_is_the_same():
    torch.manual_seed(0)
    plain = get_peft_model(build_tiny_model(64), LoraConfig(r=4, target_modules=["q_proj", "v_proj", "up_proj"],
                                                            init_lora_weights=False)).eval()
    fused = copy.deepcopy(plain)
    fuse_projections(fused)
    layer = fused.base_model.model.model.layers[1].self_attn.v_proj
    assert type(layer.base_layer) is ProjectionSlice and "default" in layer.lora_A
    assert torch.allclose(logits(fused), logits(plain), atol=1e-5)
    with fused.disable_adapter(), plain.disable_adapter():
        assert torch.allclose(logits(fused), logits(plain), atol=1e-5)


@pytest.mark.parametrize("name, kind", [("int8", Int8Linear), ("int4", Int4Linear)])
def test_quantized_stacks_hold_the_values_of_each_projection_quantized_alone(name, kind, small_layers_too):
    plain = build_tiny_model(64).eval()
    fused = copy.deepcopy(plain)
    fuse_projections(fused)
    apply_precision(plain, name)
    apply_precision(fused, name)
    assert type(fused.model.layers[0].self_attn.studio_fused_q_k_v) is kind
    assert weight_bytes(fused) <= weight_bytes(plain)
    alone = plain.model.layers[0].mlp
    stacked = fused.model.layers[0].mlp
    assert torch.equal(stacked.up_proj.weight, alone.up_proj.weight)
    assert torch.allclose(logits(fused), logits(plain), atol=1e-4)
