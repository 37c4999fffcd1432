"""Packing: a batch's examples laid end to end in a few rows instead of each padded to the longest.

With examples of uneven length, padding is most of a batch (half the work on the first rows
of alpaca). Packing keeps the same examples in the same optimizer steps, so the loss is the
one padding gives, and spends nothing on padding:

- rows are filled first-fit-decreasing up to the batch's longest example, so attention never
  spans more than padding would have; with per-example attention (below), whose cost does not grow with the
  row, up to ROW_TOKENS instead: a batch of short examples becomes one row and nothing is padding (the
  longest-example rows left 14% padding on the first 80 rows of alpaca, 10% on the review sample);
- every example restarts its position ids at 0; transformers reads restarting positions as
  separate sequences and builds a block-diagonal causal mask, so no token sees another example;
- the first label of every example is dropped, as it would be at the start of a padded row
  (nothing precedes it to predict it from).

`packs_exactly(model)` checks the last point on the model itself before a run relies on it.

On a CPU, `use_packed_attention(model)` then gives each example its own causal attention call instead of one
call over the whole row with the block-diagonal mask: the CPU flash kernel's backward is slow with a mask, and
in bf16 on short sequences (a row of eight 140-token examples, 9 heads, forward and backward: 35 ms with the mask,
16 ms one example at a time in fp32; up to 256 tokens fp32 is the faster, above it bf16).
"""

from __future__ import annotations

import torch

from studio.methods import inner_model, is_prompt_learning
from studio.tokens import IGNORED_LABEL

PACKED_ATTENTION = "studio_packed_sdpa"
SHORT_EXAMPLE = 256  # tokens: up to here the CPU flash kernel trains faster in fp32 than in bf16 (measured)
ROW_TOKENS = 4096  # a packed row's length under per-example attention: its mask (length² booleans) stays 16 MB


def pack_rows(lengths: list[int], capacity: int) -> list[list[int]]:
    """Indices of the examples in each row, first-fit decreasing (the longest first)."""
    rows: list[list[int]] = []
    room: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        for row, free in enumerate(room):
            if lengths[index] <= free:
                rows[row].append(index)
                room[row] -= lengths[index]
                break
        else:
            rows.append([index])
            room.append(capacity - lengths[index])
    return rows


class PackingCollator:
    """Collate tokenised examples ({"input_ids", "labels"}) into packed rows.

    Returns input_ids, labels, position_ids and `attention_mask`, which marks real tokens for
    counting only: the trainer must not pass it to the model, as a 2-D mask would switch off
    the per-example attention that restarting positions give. A row holds up to the longest example, or up to
    `row_tokens` where that is longer (for per-example attention, ROW_TOKENS).
    """

    def __init__(self, pad_token_id: int, row_tokens: int = 0):
        self.pad_token_id = pad_token_id
        self.row_tokens = row_tokens

    def __call__(self, features: list[dict]) -> dict:
        lengths = [len(feature["input_ids"]) for feature in features]
        rows = pack_rows(lengths, max(*lengths, self.row_tokens))
        width = max(sum(lengths[index] for index in row) for row in rows)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORED_LABEL, dtype=torch.long)
        positions = torch.zeros((len(rows), width), dtype=torch.long)
        real = torch.zeros((len(rows), width), dtype=torch.long)
        for row, members in enumerate(rows):
            start = 0
            for index in members:
                feature, length = features[index], lengths[index]
                input_ids[row, start:start + length] = torch.as_tensor(feature["input_ids"])
                labels[row, start + 1:start + length] = torch.as_tensor(feature["labels"][1:])
                positions[row, start:start + length] = torch.arange(length)
                real[row, start:start + length] = 1
                start += length
            # The padding after the last example is a sequence of its own, so it starts at 0 too.
            positions[row, start:] = torch.arange(width - start)
        return {"input_ids": input_ids, "labels": labels, "position_ids": positions, "attention_mask": real}


def model_inputs(inputs: dict) -> dict:
    """The inputs to give the model: packed batches lose their counting mask, and the cache.

    transformers reads restarting positions as separate sequences only without a 2-D mask and
    without a KV cache (which models otherwise create even in training).
    """
    if "position_ids" in inputs:
        return {**{key: value for key, value in inputs.items() if key != "attention_mask"}, "use_cache": False}
    return inputs


@torch.no_grad()
def packs_exactly(model, vocab_size: int | None = None, tolerance: float = 1e-3) -> bool:
    """True when this model, fed two packed sequences, gives each the logits it gets alone."""
    if is_prompt_learning(model):
        return False  # virtual tokens sit before the sequence and would be shared by every packed example
    device = next(model.parameters()).device
    vocab_size = vocab_size or model.config.get_text_config().vocab_size
    generator = torch.Generator().manual_seed(0)
    first = torch.randint(3, min(vocab_size, 1000), (1, 7), generator=generator).to(device)
    second = torch.randint(3, min(vocab_size, 1000), (1, 5), generator=generator).to(device)
    was_training = model.training
    model.eval()
    try:
        alone = torch.cat([model(input_ids=first, use_cache=False).logits,
                           model(input_ids=second, use_cache=False).logits], dim=1).float()
        positions = torch.cat([torch.arange(7), torch.arange(5)])[None].to(device)
        packed = model(input_ids=torch.cat([first, second], dim=1), position_ids=positions,
                       use_cache=False).logits.float()
    except (TypeError, ValueError, RuntimeError):
        return False
    finally:
        model.train(was_training)
    scale = alone.abs().max().clamp(min=1.0)
    return bool(((packed - alone).abs().max() / scale) < tolerance)


def packed_attention_if_exact(model) -> bool:
    """Switch to per-example attention (use_packed_attention) and keep it where packing stays exact with it: True
    then. Otherwise the model keeps SDPA, and `packs_exactly` tells whether to pack with it."""
    if not use_packed_attention(model):
        return False
    if packs_exactly(model):
        return True
    inner_model(model).set_attn_implementation("sdpa")
    return False


def packing_collator(model, pad_token_id: int) -> PackingCollator | None:
    """How to pack this model's batches: with per-example attention where it stays exact, in rows of up to
    ROW_TOKENS; else in rows of up to the longest example where packing is exact with the model's own attention;
    None where it is not (pad instead)."""
    if packed_attention_if_exact(model):
        return PackingCollator(pad_token_id, ROW_TOKENS)
    return PackingCollator(pad_token_id) if packs_exactly(model) else None


def use_packed_attention(model) -> bool:
    """Give each packed example an attention call of its own on a CPU, where the model attends with SDPA and
    no sliding window (the examples of a row are then computed as packs_exactly checked). True when switched."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface, sdpa_mask

    inner = inner_model(model)
    config = inner.config
    if (config._attn_implementation != "sdpa" or next(inner.parameters()).device.type != "cpu"
            or getattr(config.get_text_config(), "sliding_window", None)):
        return False
    AttentionInterface.register(PACKED_ATTENTION, packed_attention)
    if PACKED_ATTENTION not in ALL_MASK_ATTENTION_FUNCTIONS._global_mapping:
        AttentionMaskInterface.register(PACKED_ATTENTION, sdpa_mask)  # the mask SDPA gets, for every other batch
    inner.set_attn_implementation(PACKED_ATTENTION)
    return True


def packed_attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, **kwargs):
    """transformers' SDPA attention, one example at a time where a packed row's mask is exactly per-example."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    bounds = example_bounds(attention_mask, kwargs.get("position_ids"), query.shape[2], key.shape[2])
    if bounds is None or dropout or kwargs.get("softcap") is not None or kwargs.get("sliding_window"):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    # Under autocast a model kept in fp32 (full or freeze training) brings fp32 queries and keys (rotated at fp32)
    # beside a bf16 value, which the kernel refuses: a long example attends at the autocast dtype, all three alike.
    long_dtype = torch.get_autocast_dtype(query.device.type) if torch.is_autocast_enabled() else query.dtype
    rows = []
    for row, examples in enumerate(bounds):
        # split, not slices: its backward joins the examples' gradients instead of adding each into a zero tensor
        sizes = [end - start for start, end in examples]
        parts = []
        for pieces in zip(*(tensor[row:row + 1].split(sizes, dim=2) for tensor in (query, key, value))):
            dtype = torch.float32 if pieces[0].shape[2] <= SHORT_EXAMPLE else long_dtype
            with torch.autocast(query.device.type, enabled=False):
                out = sdpa_attention_forward(module, *(piece.to(dtype) for piece in pieces), None,
                                             scaling=scaling, is_causal=True)[0]
            parts.append(out.to(query.dtype))
        rows.append(torch.cat(parts, dim=1))
    return torch.cat(rows, dim=0), None


_LAST_BOUNDS: list = [None, None]  # (mask, bounds) of the last call: every layer of a forward pass shares the mask


def example_bounds(mask, position_ids, query_length: int, key_length: int) -> list[list[tuple[int, int]]] | None:
    """[(start, end) of each example] per row, when the boolean mask is exactly the block-diagonal causal mask of
    the examples that restarting position ids mark, or no mask and positions from 0; None otherwise (a cache,
    padding)."""
    if position_ids is None or query_length != key_length or position_ids.shape[-1] != query_length:
        return None
    index = torch.arange(query_length, device=position_ids.device)
    if mask is None:  # one example a row, attended as packed examples are (SDPA skips the mask of a plain causal row)
        return [[(0, query_length)]] * len(position_ids) if query_length > 1 and torch.equal(
            position_ids, index.expand_as(position_ids)) else None
    if mask.dtype != torch.bool or mask.dim() != 4 or mask.shape[1] != 1 or len(position_ids) != mask.shape[0]:
        return None
    if _LAST_BOUNDS[0] is mask:
        return _LAST_BOUNDS[1]
    bounds = []
    for row in range(mask.shape[0]):
        positions = position_ids[row]
        starts = (positions == 0).nonzero().flatten().tolist()
        if not starts or starts[0] != 0:
            bounds = None
            break
        example = torch.cumsum((positions == 0).long(), 0)
        expected = (example[:, None] == example[None, :]) & (index[:, None] >= index[None, :])
        if not torch.equal(positions, index - index[torch.tensor(starts)[example - 1]]) or \
                not torch.equal(mask[row, 0], expected):
            bounds = None
            break
        bounds.append(list(zip(starts, [*starts[1:], query_length])))
    _LAST_BOUNDS[:] = [mask, bounds]
    return bounds
