"""Our decoding loop answers exactly as `model.generate` does, alone and side by side."""

from __future__ import annotations

import pytest
import torch

from studio.generate import GenerationSettings, cached_model, generate_text, load_for_chat, stream_chat
from studio.pairs import stream_pair
from studio.training import run_training
from tests.conftest import method_config as tiny_config

PROMPTS = [[{"role": "user", "content": "the sky"}],
           [{"role": "system", "content": "be brief"}, {"role": "user", "content": "a cat and a dog"}]]


def reference_answer(model, tokenizer, messages, settings: GenerationSettings) -> str:
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    torch.manual_seed(settings.seed)
    with torch.no_grad():
        output = model.generate(**inputs, **settings.generate_kwargs(), pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()


@pytest.mark.parametrize("settings", [
    GenerationSettings(temperature=0, max_new_tokens=16),
    GenerationSettings(temperature=0, max_new_tokens=16, repetition_penalty=1.3),
    GenerationSettings(temperature=0.9, top_p=0.8, top_k=20, max_new_tokens=16, seed=3),
    GenerationSettings(temperature=1.5, top_p=1.0, top_k=0, max_new_tokens=16, repetition_penalty=1.1, seed=7),
])
def test_answers_match_generate(tiny_model_dir, settings):
    from transformers import AutoModelForCausalLM

    model, tokenizer = load_for_chat(str(tiny_model_dir))
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    for messages in PROMPTS:
        assert generate_text(model, tokenizer, messages, settings) == reference_answer(plain, tokenizer, messages, settings)


def test_stop_event_ends_the_answer(tiny_model_dir):
    import threading

    model, tokenizer = load_for_chat(str(tiny_model_dir))
    stop = threading.Event()
    stop.set()
    answers = list(stream_chat(model, tokenizer, PROMPTS[0], GenerationSettings(temperature=0, max_new_tokens=50), stop))
    assert len(answers) <= 1


def test_a_seeded_answer_is_the_same_whatever_else_draws_meanwhile(tiny_model_dir):
    """Two seeded answers streaming at once (two people chatting with two models), and something else drawing
    random numbers between their steps (a model loading draws its new adapters' first values): each comes out as
    it does alone, as a seed promises."""
    from dataclasses import replace

    settings = GenerationSettings(temperature=1.5, max_new_tokens=16, seed=3)
    models = [load_for_chat(str(tiny_model_dir)) for _ in range(2)]
    alone = [generate_text(model, tokenizer, PROMPTS[0], replace(settings, seed=seed))
             for (model, tokenizer), seed in zip(models, (3, 4))]
    streams = [stream_chat(model, tokenizer, PROMPTS[0], replace(settings, seed=seed))
               for (model, tokenizer), seed in zip(models, (3, 4))]
    together, live = ["", ""], dict(enumerate(streams))
    while live:
        for index in list(live):
            try:
                together[index] = next(live[index])
            except StopIteration:
                del live[index]
            torch.rand(1000)
    assert [text.strip() for text in together] == [text.strip() for text in alone]
    assert alone[0] != alone[1]


@pytest.mark.parametrize("method", ["lora", "dora", "ia3", "prefix-tuning", "full"])
def test_pair_matches_each_model_alone(method, tiny_model_dir, tiny_sft_file, tmp_path, workspace):
    run_training(tiny_config(tiny_model_dir, tiny_sft_file, tmp_path, method))
    run = tmp_path / method
    settings = GenerationSettings(temperature=0, max_new_tokens=12)
    base, tokenizer = load_for_chat(str(tiny_model_dir))
    tuned, tuned_tokenizer = load_for_chat(str(tiny_model_dir), run)
    *_, (base_answer, tuned_answer) = stream_pair(run, PROMPTS[0], settings)
    assert base_answer.strip() == reference_answer(base, tokenizer, PROMPTS[0], settings)
    assert tuned_answer.strip() == reference_answer(tuned, tuned_tokenizer, PROMPTS[0], settings)
    if method in ("lora", "full"):  # the others barely move the tiny model's greedy answer in 12 steps
        assert base_answer != tuned_answer


def test_model_cache_reuses_and_reloads_retrained_runs(tiny_model_dir, tiny_sft_file, tmp_path, workspace):
    import os

    run_training(tiny_config(tiny_model_dir, tiny_sft_file, tmp_path, "lora", max_steps=2))
    run = tmp_path / "lora"
    first, _ = cached_model(trained=run)
    assert cached_model(trained=run)[0] is first
    weights = run / "adapter" / "adapter_model.safetensors"
    os.utime(weights, (weights.stat().st_atime, weights.stat().st_mtime + 5))
    assert cached_model(trained=run)[0] is not first


def test_a_model_dropped_from_the_cache_leaves_memory_at_once(tiny_model_dir, monkeypatch):
    import gc
    import weakref

    from studio import generate

    monkeypatch.setattr(generate, "MODEL_CACHE_SIZE", 1)
    monkeypatch.setattr(generate, "_models", generate.OrderedDict())
    first = weakref.ref(cached_model(str(tiny_model_dir))[0])
    gc.disable()  # only the cache's own collection may free it
    try:
        assert first() is not None
        cached_model(str(tiny_model_dir), precision="bf16")
        assert first() is None
    finally:
        gc.enable()
