"""Generation: load a base (+ a run's adapter or model), and answer, streaming or whole.

    model, tokenizer = cached_model("embedded", "runs/demo")
    for text in stream_chat(model, tokenizer, [{"role": "user", "content": "Hi"}], GenerationSettings()):
        print(text)
    for base_text, tuned_text in stream_pair("runs/demo", messages, GenerationSettings(temperature=0)):  # studio.pairs
        ...

Decoding is a loop of our own over the model's KV cache rather than `model.generate`: it
samples exactly as `generate` does (same processors, same order, same random draws), and
it lets the base and the tuned model answer in one batch (the adapter applied to the tuned
row only) so a side-by-side costs about what one answer costs.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Iterator

import torch

from studio import runs
from studio.config import EMBEDDED_MODEL
from studio.cpu_decode import decode_threads, prepare_for_decoding
from studio.decode_step import StepCache, written_step
from studio.methods import is_prompt_learning
from studio.sampling import GenerationSettings


def load_for_chat(base: str | None = None, trained: str | Path | None = None, precision: str = "auto"):
    """(model, tokenizer) for the base alone, or the base with a run's adapter, or a run's full model, at a chat
    precision (studio.precision: auto, fp32, bf16, int8, int4). The model carries `studio_precision`."""
    from studio.fused_projections import fuse_projections
    from studio.huge_pages import move_to_huge_pages
    from studio.models import load_model, load_tokenizer, pick_device
    from studio.precision import apply_precision, resolve

    device = pick_device()
    precision = resolve(precision, device)
    # On a GPU int8/int4 load through bitsandbytes; on the CPU the weights load in fp32 (bf16 directly) and an
    # adapter goes on before the layers under it are quantized.
    bits = {"int8": 8, "int4": 4}.get(precision, 0) if device == "cuda" else 0
    load_precision = "bf16" if precision == "bf16" else ("auto" if bits else "fp32")
    base = base or (runs.base_model(trained) if trained else None) or EMBEDDED_MODEL
    if trained is None:
        model, tokenizer = load_model(base, load_precision, bits, device=device)
    else:
        kind, folder = runs.trained_weights(trained)
        if kind == "model":
            model, _ = load_model(str(folder), load_precision, bits, device=device)
        else:
            from peft import PeftModel

            model, _ = load_model(base, load_precision, bits, device=device)
            model = PeftModel.from_pretrained(model, str(folder))
        # The run's tokenizer carries any chat template override it trained with.
        tokenizer = load_tokenizer(folder)
    model.eval()
    if device == "cpu":
        fuse_projections(model)
    apply_precision(model, precision, device)
    prepare_for_decoding(model)
    model.studio_step = written_step(model)
    if device == "cpu":
        move_to_huge_pages(model)
    return model, tokenizer


def context_limit(model) -> int | None:
    """The most positions the model has (prompt and answer together), when its config says."""
    value = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return value if isinstance(value, int) and value > 0 else None


def prompt_ids(tokenizer, messages: list[dict], device) -> dict:
    if tokenizer.chat_template:
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    else:
        text = "\n".join(message["content"] for message in messages)
        ids = tokenizer(text, return_tensors="pt")
    return {key: value.to(device) for key, value in ids.items() if key in ("input_ids", "attention_mask")}


MODEL_CACHE_SIZE = 3
_models: OrderedDict = OrderedDict()
_models_lock = threading.Lock()  # held only to look up and store: never while a model loads
_loading: dict = {}  # key -> lock: one load per model at a time, while other models answer


def cached_model(base: str | None = None, trained: str | Path | None = None, precision: str = "auto"):
    """(model, tokenizer) from a small shared cache, so answering does not reload weights; one entry per model
    and precision (see load_for_chat).

    The key holds the weights folder's modification time: a run trained again into the same
    folder is loaded afresh. Each model carries a lock; `stream_chat`/`stream_pair` hold it, so
    two browsers asking the same model at once take turns instead of racing on its state. A model
    loading holds up only those who asked for that same model; one whose weights cannot fit in the
    free memory is refused before loading.
    """
    from studio.models import pick_device
    from studio.precision import resolve

    precision = resolve(precision, pick_device())
    weights = None
    if trained is not None:
        _, weights = runs.trained_weights(trained)
    key = (base or "", str(Path(trained).resolve()) if trained else "",
           max((item.stat().st_mtime for item in weights.iterdir()), default=0) if weights else 0, precision)
    with _models_lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
        loading = _loading.setdefault(key, threading.Lock())
    with loading:
        with _models_lock:
            if key in _models:
                return _models[key]
        check_fits(base, trained)
        model, tokenizer = load_for_chat(base, trained, precision)
        model.studio_lock = threading.Lock()
        with _models_lock:
            _models[key] = (model, tokenizer)
            _loading.pop(key, None)
            evicted = []
            while len(_models) > MODEL_CACHE_SIZE:
                evicted.append(_models.popitem(last=False))
        if evicted:
            # A transformers model holds reference cycles, so dropping it frees nothing until the garbage
            # collector runs, which may be long after: collect now, so its weights leave memory with it.
            evicted.clear()
            gc.collect()
        return model, tokenizer


def check_fits(base: str | None, trained: str | Path | None) -> None:
    """ValueError when the weights to load are larger than the free memory (counted from their files' headers)."""
    from studio.config import RunConfig
    from studio.models import pick_device
    from studio.preflight import check_memory, model_folder, parameter_count

    if trained is not None:
        kind, folder = runs.trained_weights(trained)
        base = runs.base_model(trained) or EMBEDDED_MODEL
        source = folder if kind == "model" else model_folder(base)
    else:
        source = model_folder(base or EMBEDDED_MODEL)
    if source is None:  # a hub model not downloaded yet: loading it says what it needs
        return
    check_memory(RunConfig(base_model=str(source)), parameter_count(Path(source)), pick_device(),
                 label=Path(str(base or source)).name)


def generation_lock(model) -> threading.Lock:
    with _models_lock:
        if not hasattr(model, "studio_lock"):
            model.studio_lock = threading.Lock()
        return model.studio_lock


def sampling_processors(settings: GenerationSettings):
    """The processors `generate` would build from these settings, in its order."""
    from transformers.generation.logits_process import (
        LogitsProcessorList, RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
        TopKLogitsWarper, TopPLogitsWarper,
    )

    processors = LogitsProcessorList()
    if settings.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(settings.repetition_penalty))
    if settings.temperature > 0:
        if settings.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(settings.temperature))
        if settings.top_k:
            processors.append(TopKLogitsWarper(settings.top_k))
        if settings.top_p < 1.0:
            processors.append(TopPLogitsWarper(settings.top_p))
    return processors


def stop_token_ids(model, tokenizer) -> list[int]:
    ids = getattr(model.generation_config, "eos_token_id", None) or tokenizer.eos_token_id
    return [ids] if isinstance(ids, int) else list(ids or [])


def supports_mixed_batch(model) -> bool:
    """Whether one batch can hold rows with the adapter on and rows with it off (see `prepare_adapter_rows`)."""
    return getattr(model, "studio_adapter_rows", None) is not None


class Lane:
    """One model answering `rows` rows of the same prompt, with its own KV cache.

    `adapter_rows`: the rows that get the adapter, the others are the base (models that
    `supports_mixed_batch`); `adapter_off`: the adapter is off for the whole lane.
    """

    def __init__(self, model, rows: int = 1, adapter_off: bool = False, adapter_rows: slice | None = None):
        self.model, self.rows, self.adapter_off, self.adapter_rows = model, rows, adapter_off, adapter_rows
        self.cache = None
        # Time in this lane's forward passes after the first (which reads the prompt): its own decoding speed,
        # even beside another model.
        self.passes, self.seconds = 0, 0.0

    def speed(self, tokens: int) -> dict:
        """What this lane's model cost: precision, weights in memory, and its own passes after the prompt's per
        second (a token each; a lane whose answer ended early goes on stepping beside a longer one)."""
        return model_speed(self.model, tokens, self.seconds, max(self.passes - 1, 0))

    def logits(self, input_ids: torch.Tensor) -> torch.Tensor:
        from contextlib import nullcontext

        from transformers import DynamicCache

        step = getattr(self.model, "studio_step", None)  # a step written out for this model (studio.decode_step)
        if self.cache is None:
            self.cache = StepCache() if step else DynamicCache(config=self.model.config)
        holder = getattr(self.model, "studio_adapter_rows", None)
        if holder is not None:
            holder.rows = self.adapter_rows if self.adapter_rows is not None else slice(0, self.rows)
        context = self.model.disable_adapter() if self.adapter_off else nullcontext()
        start = time.perf_counter()
        try:
            with context:
                if step:
                    logits = step(input_ids, self.cache)
                else:
                    logits = self.model(input_ids=input_ids, past_key_values=self.cache, use_cache=True,
                                        logits_to_keep=1).logits[:, -1, :]
        finally:
            if holder is not None:
                holder.rows = None
        logits = logits.float()
        if self.passes:
            self.seconds += time.perf_counter() - start
        self.passes += 1
        return logits


def model_speed(model, tokens: int, seconds: float, timed_tokens: int | None = None) -> dict:
    """{precision, weight_mb, tokens, tokens_per_second} of an answer a model gave: `timed_tokens` (all by default)
    of its tokens took `seconds`; None for the speed when nothing was timed."""
    from studio.precision import weight_bytes

    timed = tokens if timed_tokens is None else timed_tokens
    return {"precision": getattr(model, "studio_precision", "fp32"), "weight_mb": round(weight_bytes(model) / 1e6),
            "tokens": tokens, "tokens_per_second": round(timed / seconds, 1) if seconds > 0 and timed else None}


@torch.inference_mode()
def decode(lanes: list[Lane], input_ids: torch.Tensor, settings: GenerationSettings, stop_ids: list[int],
           pad_id: int, stop: threading.Event | None = None) -> Iterator[list[list[int]]]:
    """Yield every row's new tokens after each step; rows are the lanes' rows in order.

    Sampling matches `model.generate`: the same processors, then softmax and one multinomial
    draw per step for the whole batch. A seeded answer draws from its own generator, seeded as
    `torch.manual_seed` seeds the global one (so the same draws as `generate` after it), which
    nothing else in the process advances: another answer, a model loading (PEFT draws its new
    adapters' first values) or anything else that draws meanwhile leaves it the same answer.
    """
    seeded = settings.seed is not None
    generator = torch.Generator(input_ids.device).manual_seed(settings.seed) if seeded else None
    processors = sampling_processors(settings)
    rows_per_lane = [lane.rows for lane in lanes]
    sequence = torch.cat([input_ids.expand(rows, -1) for rows in rows_per_lane])
    finished = torch.zeros(len(sequence), dtype=torch.bool)
    stop_tensor = torch.tensor(stop_ids or [-1])
    answers: list[list[int]] = [[] for _ in range(len(sequence))]
    step_input = [input_ids.expand(rows, -1) for rows in rows_per_lane]
    # OpenBLAS for one row only (studio.decode_kernels): side by side, torch's two-row product reads the weights once.
    blas = (getattr(lanes[0].model, "studio_blas", False),) if rows_per_lane == [1] else ()
    with decode_threads(blas):
        for _ in range(settings.max_new_tokens):
            logits = torch.cat([lane.logits(ids) for lane, ids in zip(lanes, step_input)])
            scores = processors(sequence, logits)
            if settings.temperature > 0:
                chosen = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1, generator=generator).squeeze(1)
            else:
                chosen = scores.argmax(dim=-1)
            chosen = torch.where(finished, torch.full_like(chosen, pad_id), chosen)
            for row, token in enumerate(chosen.tolist()):
                if not finished[row] and token not in stop_ids:
                    answers[row].append(token)
            sequence = torch.cat([sequence, chosen[:, None]], dim=1)
            finished |= torch.isin(chosen, stop_tensor)
            yield answers
            if bool(finished.all()) or (stop is not None and stop.is_set()):
                return
            step_input = list(chosen[:, None].split(rows_per_lane))


def stream_chat(model, tokenizer, messages: list[dict], settings: GenerationSettings,
                stop: threading.Event | None = None, speed: dict | None = None) -> Iterator[str]:
    """Yield the answer so far as it grows; `stop.set()` ends it early. `speed`, when given, is filled at the end
    with what the answer cost (`model_speed`)."""
    if is_prompt_learning(model):
        yield from stream_with_generate(model, tokenizer, messages, settings, stop, speed)
        return
    inputs = prompt_ids(tokenizer, messages, next(model.parameters()).device)
    lane = Lane(model)
    answer: list[int] = []
    with generation_lock(model):
        shown = ""
        for answers in decode([lane], inputs["input_ids"], settings, stop_token_ids(model, tokenizer),
                              tokenizer.pad_token_id or 0, stop):
            answer = answers[0]
            text = tokenizer.decode(answer, skip_special_tokens=True)
            if text != shown:
                shown = text
                yield text
    if speed is not None:
        speed.update(lane.speed(len(answer)))


def stream_with_generate(model, tokenizer, messages: list[dict], settings: GenerationSettings,
                         stop: threading.Event | None = None, speed: dict | None = None) -> Iterator[str]:
    """`model.generate` on a thread with a text streamer; for models our decoding loop cannot drive. `speed`: as
    for stream_chat (here the whole generate call is timed)."""
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    class StopOnEvent(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return bool(stop and stop.is_set())

    inputs = prompt_ids(tokenizer, messages, next(model.parameters()).device)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    kwargs = {**inputs, **settings.generate_kwargs(), "streamer": streamer, "pad_token_id": tokenizer.pad_token_id,
              "stopping_criteria": StoppingCriteriaList([StopOnEvent()])}
    errors, done = [], {}

    def work():
        try:
            start = time.perf_counter()
            with torch.no_grad():
                output = model.generate(**kwargs)
            done.update(tokens=output.shape[-1] - inputs["input_ids"].shape[-1], seconds=time.perf_counter() - start)
        except Exception as error:  # surfaced to the caller below, after the stream closes
            errors.append(error)
            streamer.end()

    with generation_lock(model):
        if settings.seed is not None:
            torch.manual_seed(settings.seed)
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        text = ""
        for piece in streamer:
            text += piece
            yield text
        thread.join()
    if errors:
        raise ValueError(f"Generation failed: {errors[0]}")
    if speed is not None and done:
        speed.update(model_speed(model, done["tokens"], done["seconds"]))


def generate_text(model, tokenizer, messages: list[dict], settings: GenerationSettings) -> str:
    text = ""
    for text in stream_chat(model, tokenizer, messages, settings):
        pass
    return text.strip()


@torch.no_grad()
def generate_batch(model, tokenizer, conversations: list[list[dict]], max_new_tokens: int, batch_size: int = 8) -> list[str]:
    """Greedy answers for many prompts at once (left-padded batches); used for evaluation."""
    answers = []
    original_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    try:
        for start in range(0, len(conversations), batch_size):
            texts = [tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
                     for messages in conversations[start:start + batch_size]]
            inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id)
            new_tokens = output[:, inputs["input_ids"].shape[1]:]
            answers.extend(text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = original_side
    return answers
