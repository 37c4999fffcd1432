"""A decoding step of a Llama-family model written out, for chat on the CPU.

A step of the embedded model reads 538 MB of fp32 weights, about 21 ms on a 2-core AMD EPYC; the rest of a
step through transformers' forward, about 7 ms, is small operators and the Python around them: module calls,
a causal mask and position ids made anew, the key/value cache grown by copying it at every layer. This step
runs the same operators of the same modules in the same order (embedding, rotary angles, norms, projections,
SDPA, MLP, head: each layer's own modules, so a PEFT adapter, int8/int4 layers, stacked projections and the
decoding kernels apply as in the forward) without the rest, and keeps keys and values in buffers that a step
writes into (`StepCache`). It calls each module's `forward` directly, skipping `nn.Module`'s call machinery
(about 1 ms a step), so a model with hooks on its modules is left to its forward. A step of the embedded
model: about 26 ms instead of 28.5 at fp32, 17 instead of 19.5 at int8 (the same process, alternating). The
logits are the forward's (`tests/test_decode_step.py`; `python -m bench.chat` checks greedy answers equal to
`generate`'s).

It takes only what it reproduces exactly: `LlamaForCausalLM`, and `Qwen2ForCausalLM` and `MistralForCausalLM`
without a sliding window (their layers are Llama's otherwise), with their own decoder layer, attention and MLP
classes and SDPA attention, bare or under a PEFT adapter that is not prompt learning, on the CPU, a whole
prompt first and then a token at a time. Any other model decodes through its forward, as before.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


class StepCache:
    """Every layer's keys and values in buffers with room for 256 positions after the prompt, doubled when a
    step needs more; the first `length` positions are filled."""

    def __init__(self):
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.length = 0

    def write(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this step's keys and values ([batch, heads, positions, dim]) after the filled positions; returns
        all of this layer's so far (views of the buffers). `length` moves on once the last layer has written."""
        start, end = self.length, self.length + keys.shape[2]
        if layer == len(self.keys):
            self.keys.append(keys.new_empty(*keys.shape[:2], end + 256, keys.shape[3]))
            self.values.append(values.new_empty(*values.shape[:2], self.keys[layer].shape[2], values.shape[3]))
        elif end > self.keys[layer].shape[2]:
            for buffers in (self.keys, self.values):
                grown = buffers[layer].new_empty(*buffers[layer].shape[:2], 2 * end, buffers[layer].shape[3])
                grown[:, :, :start] = buffers[layer][:, :, :start]
                buffers[layer] = grown
        self.keys[layer][:, :, start:end] = keys
        self.values[layer][:, :, start:end] = values
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]


def families() -> dict:
    """{causal LM class: (its module, decoder layer, attention and MLP classes)} for the families whose decoding
    the step reproduces: Llama, and Qwen2 and Mistral, whose layers are Llama's but for a sliding window."""
    from transformers.models.llama import modeling_llama as llama
    from transformers.models.mistral import modeling_mistral as mistral
    from transformers.models.qwen2 import modeling_qwen2 as qwen2

    return {getattr(source, f"{name}ForCausalLM"): (source, *(getattr(source, f"{name}{part}")
                                                              for part in ("DecoderLayer", "Attention", "MLP")))
            for source, name in ((llama, "Llama"), (qwen2, "Qwen2"), (mistral, "Mistral"))}


def written_step(model) -> Callable | None:
    """`step(input_ids, cache) -> logits of the last position` for a model this module writes out (see above),
    else None."""
    from studio.methods import inner_model, is_prompt_learning

    if is_prompt_learning(model):
        return None
    inner = inner_model(model)
    family = families().get(type(inner))
    if family is None or inner.config._attn_implementation != "sdpa":
        return None
    if inner.model.norm.weight.device.type != "cpu" or inner.training:  # (an int8 head's .weight would dequantize)
        return None
    source, layer_class, attention_class, mlp_class = family
    for layer in inner.model.layers:
        if (type(layer) is not layer_class or type(layer.self_attn) is not attention_class
                or type(layer.mlp) is not mlp_class or getattr(layer.self_attn, "sliding_window", None) is not None):
            return None
    if type(inner).__name__ == "MistralForCausalLM" and inner.config.sliding_window is not None:
        return None  # a window masks positions further back: the step attends to all of them
    if any(module._forward_hooks or module._forward_pre_hooks for module in model.modules()):
        return None  # the step calls modules' forward directly, which would skip a hook

    def step(input_ids: torch.Tensor, cache: StepCache) -> torch.Tensor:
        return llama_step(inner, input_ids, cache, source.apply_rotary_pos_emb)

    return step


def llama_step(model, input_ids: torch.Tensor, cache: StepCache, apply_rotary_pos_emb: Callable) -> torch.Tensor:
    """What `model(input_ids, past_key_values=..., use_cache=True, logits_to_keep=1).logits[:, -1]` gives, for a
    prompt read whole into an empty cache or one token per row after it (`apply_rotary_pos_emb`: the family's)."""
    batch, count = input_ids.shape
    start = cache.length
    if count > 1 and start:
        raise ValueError("A written-out step reads a whole prompt into an empty cache, then a token at a time.")
    body = model.model
    hidden = body.embed_tokens.forward(input_ids)
    positions = torch.arange(start, start + count, device=input_ids.device)[None]
    cos, sin = body.rotary_emb.forward(hidden, positions)
    for index, layer in enumerate(body.layers):
        attention, mlp = layer.self_attn, layer.mlp
        normed = layer.input_layernorm.forward(hidden)
        shape = (batch, count, -1, attention.head_dim)
        query = attention.q_proj.forward(normed).view(shape).transpose(1, 2)
        key = attention.k_proj.forward(normed).view(shape).transpose(1, 2)
        value = attention.v_proj.forward(normed).view(shape).transpose(1, 2)
        query, key = apply_rotary_pos_emb(query, key, cos, sin)
        keys, values = cache.write(index, key, value)
        # As transformers' SDPA call: no mask, causal while reading the prompt, key/value heads shared (GQA).
        attended = F.scaled_dot_product_attention(query, keys, values, is_causal=count > 1, scale=attention.scaling,
                                                  enable_gqa=attention.num_key_value_groups > 1)
        attended = attended.transpose(1, 2).reshape(batch, count, -1).contiguous()
        hidden = hidden + attention.o_proj.forward(attended)
        normed = layer.post_attention_layernorm.forward(hidden)
        gated = mlp.act_fn.forward(mlp.gate_proj.forward(normed)) * mlp.up_proj.forward(normed)
        hidden = hidden + mlp.down_proj.forward(gated)
    cache.length = start + count
    return model.lm_head.forward(body.norm.forward(hidden[:, -1:]))[:, -1]
