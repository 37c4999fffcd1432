"""Packing: a batch's examples laid end to end in a few rows instead of each padded to the longest.

With examples of uneven length, padding is most of a batch (half the work on the first rows
of alpaca). Packing keeps the same examples in the same optimizer steps, so the loss is the
one padding gives, and spends nothing on padding:

- rows are filled first-fit-decreasing up to the batch's longest example, so attention never
  spans more than padding would have;
- every example restarts its position ids at 0; transformers reads restarting positions as
  separate sequences and builds a block-diagonal causal mask, so no token sees another example;
- the first label of every example is dropped, as it would be at the start of a padded row
  (nothing precedes it to predict it from).

`packs_exactly(model)` checks the last point on the model itself before a run relies on it.
"""

from __future__ import annotations

import torch

from studio.tokens import IGNORED_LABEL


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
    the per-example attention that restarting positions give.
    """

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, features: list[dict]) -> dict:
        lengths = [len(feature["input_ids"]) for feature in features]
        rows = pack_rows(lengths, max(lengths))
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
    if getattr(model, "peft_config", None) and any(config.is_prompt_learning for config in model.peft_config.values()):
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
