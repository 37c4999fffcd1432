"""Generation: load a base (+ a run's adapter or model), and answer, streaming or whole.

    model, tokenizer = load_for_chat("embedded", "runs/demo")
    for text in stream_chat(model, tokenizer, [{"role": "user", "content": "Hi"}], GenerationSettings()):
        print(text)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from studio.config import EMBEDDED_MODEL


@dataclass
class GenerationSettings:
    temperature: float = 0.7       # 0 = greedy: always the most likely token, repeatable
    top_p: float = 0.9             # sample only from the smallest set of tokens holding this probability
    top_k: int = 50                # ... and at most this many of them (0 = no limit)
    max_new_tokens: int = 256
    repetition_penalty: float = 1.0
    seed: int | None = 0

    def generate_kwargs(self) -> dict:
        if self.temperature <= 0:
            return {"do_sample": False, "max_new_tokens": self.max_new_tokens,
                    "repetition_penalty": self.repetition_penalty}
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p,
                "top_k": self.top_k or None, "max_new_tokens": self.max_new_tokens,
                "repetition_penalty": self.repetition_penalty}


def find_trained_weights(path: str | Path) -> tuple[str, Path]:
    """('adapter' | 'model', folder) from a run folder or an adapter/model folder itself."""
    path = Path(path).expanduser()
    for kind, folder in (("adapter", path / "adapter"), ("model", path / "model")):
        if folder.is_dir():
            return kind, folder
    if (path / "adapter_config.json").exists():
        return "adapter", path
    if (path / "config.json").exists():
        return "model", path
    raise ValueError(f"{path} holds no adapter/ or model/; is the run finished?")


def run_base_model(path: str | Path) -> str | None:
    """The base model a run folder was trained from (its config.yaml), if known."""
    import yaml

    for candidate in (Path(path) / "config.yaml", Path(path).parent / "config.yaml"):
        if candidate.exists():
            return (yaml.safe_load(candidate.read_text(encoding="utf-8")) or {}).get("base_model")
    return None


def load_for_chat(base: str | None = None, trained: str | Path | None = None, precision: str = "auto"):
    """(model, tokenizer) for the base alone, or the base with a run's adapter, or a run's full model."""
    from studio.models import load_model, load_tokenizer

    base = base or (run_base_model(trained) if trained else None) or EMBEDDED_MODEL
    if trained is None:
        model, tokenizer = load_model(base, precision)
    else:
        kind, folder = find_trained_weights(trained)
        if kind == "model":
            model, _ = load_model(str(folder), precision)
        else:
            from peft import PeftModel

            model, _ = load_model(base, precision)
            model = PeftModel.from_pretrained(model, str(folder))
        # The run's tokenizer carries any chat template override it trained with.
        tokenizer = load_tokenizer(folder)
    model.eval()
    return model, tokenizer


def prompt_ids(tokenizer, messages: list[dict], device) -> dict:
    if tokenizer.chat_template:
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    else:
        text = "\n".join(message["content"] for message in messages)
        ids = tokenizer(text, return_tensors="pt")
    return {key: value.to(device) for key, value in ids.items() if key in ("input_ids", "attention_mask")}


def stream_chat(model, tokenizer, messages: list[dict], settings: GenerationSettings,
                stop: threading.Event | None = None) -> Iterator[str]:
    """Yield the answer so far as it grows; `stop.set()` ends it early."""
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    class StopOnEvent(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return bool(stop and stop.is_set())

    inputs = prompt_ids(tokenizer, messages, next(model.parameters()).device)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    if settings.seed is not None:
        torch.manual_seed(settings.seed)
    kwargs = {**inputs, **settings.generate_kwargs(), "streamer": streamer, "pad_token_id": tokenizer.pad_token_id,
              "stopping_criteria": StoppingCriteriaList([StopOnEvent()])}
    errors = []

    def work():
        try:
            with torch.no_grad():
                model.generate(**kwargs)
        except Exception as error:  # surfaced to the caller below, after the stream closes
            errors.append(error)
            streamer.end()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    text = ""
    for piece in streamer:
        text += piece
        yield text
    thread.join()
    if errors:
        raise ValueError(f"Generation failed: {errors[0]}")


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
