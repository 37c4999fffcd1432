"""Two answers to one prompt, side by side: a run's base and tuned models, or the tuned model at two precisions.

    for left, right in stream_pair("runs/demo", messages, GenerationSettings(temperature=0)):
        ...
    for left, right in stream_pair("runs/demo", messages, settings, precisions=("fp32", "int4"), left="tuned"):
        ...

Both answers decode in one loop (`studio.generate.decode`) with the same settings and seed, so they differ only
by the models; each side's `model_speed` (precision, weights' memory, tokens/s) is given at the end.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Iterator

from studio import generate, runs
from studio.config import EMBEDDED_MODEL
from studio.generate import (Lane, cached_model, generation_lock, prompt_ids, stop_token_ids, stream_with_generate,
                             supports_mixed_batch)
from studio.methods import is_prompt_learning
from studio.sampling import GenerationSettings


SIDES = ("base", "tuned")


def stream_pair(trained: str | Path, messages: list[dict], settings: GenerationSettings,
                stop: threading.Event | None = None, precisions: tuple[str, str] = ("auto", "auto"),
                left: str = "base", speeds: list | None = None) -> Iterator[tuple[str, str]]:
    """Yield (left answer so far, right answer so far): one prompt, the same settings and seed. The right is the
    run's tuned model at `precisions[1]`; the left its base model (`left="base"`) or the tuned model again
    (`left="tuned"`), at `precisions[0]`. `speeds`, when given, gets each side's `model_speed` at the end.

    Base and tuned at one precision: with a LoRA, DoRA, AdaLoRA or (IA)3 adapter both answers come from one
    batch, the adapter applied to the tuned row only; other adapters take turns on the one model; a full or
    freeze run steps two models. Two precisions step two models (prompt methods take turns).
    """
    if left not in SIDES:
        raise ValueError(f"The left column shows the base or the tuned model, not {str(left)[:40]!r}.")
    first, second = precisions
    tuned, tokenizer = cached_model(trained=trained, precision=second)
    if left == "tuned" or first != second or runs.trained_weights(trained)[0] == "model":
        if left == "tuned":
            other, _ = cached_model(trained=trained, precision=first)
            if other is tuned:
                raise ValueError("Both columns would be the same model at the same precision: pick two precisions.")
        else:
            other, _ = cached_model(base=runs.base_model(trained) or EMBEDDED_MODEL, precision=first)
        if is_prompt_learning(tuned):
            yield from stream_in_turn((other, False), (tuned, False), tokenizer, messages, settings, stop, speeds)
            return
        lanes = [Lane(other), Lane(tuned)]
    elif is_prompt_learning(tuned):
        yield from stream_in_turn((tuned, True), (tuned, False), tokenizer, messages, settings, stop, speeds)
        return
    elif supports_mixed_batch(tuned):
        lanes = [Lane(tuned, rows=2, adapter_rows=slice(1, 2))]
    else:
        lanes = [Lane(tuned, adapter_off=True), Lane(tuned)]
    yield from stream_lanes(lanes, tokenizer, messages, settings, stop, speeds)


def stream_lanes(lanes: list[Lane], tokenizer, messages: list[dict], settings: GenerationSettings,
                 stop: threading.Event | None, speeds: list | None) -> Iterator[tuple[str, ...]]:
    """Decode the lanes together, each model's lock held, yielding every row's answer so far."""
    models = list({id(lane.model): lane.model for lane in lanes}.values())
    locks = [generation_lock(model) for model in models]
    inputs = prompt_ids(tokenizer, messages, next(models[-1].parameters()).device)
    answers: list[list[int]] = []
    for lock in locks:
        lock.acquire()
    try:
        for answers in generate.decode(lanes, inputs["input_ids"], settings, stop_token_ids(models[-1], tokenizer),
                              tokenizer.pad_token_id or 0, stop):
            yield tuple(tokenizer.decode(answer, skip_special_tokens=True) for answer in answers)
    finally:
        for lock in reversed(locks):
            lock.release()
    if speeds is not None:
        row_lanes = [lane for lane in lanes for _ in range(lane.rows)]
        speeds[:] = [lane.speed(len(answer)) for lane, answer in zip(row_lanes, answers)]


def stream_in_turn(first: tuple, second: tuple, tokenizer, messages, settings, stop,
                   speeds: list | None = None) -> Iterator[tuple[str, str]]:
    """One answer after the other, each (model, adapter off?) through `generate`: prompt methods add virtual
    tokens to the cache, so their rows cannot share a batch with others."""
    texts, measured = ["", ""], [{}, {}]
    for side, (model, adapter_off) in enumerate((first, second)):
        context = model.disable_adapter() if adapter_off else contextlib.nullcontext()
        with context:
            for texts[side] in stream_with_generate(model, tokenizer, messages, settings, stop, measured[side]):
                yield tuple(texts)
    if speeds is not None:
        speeds[:] = measured
