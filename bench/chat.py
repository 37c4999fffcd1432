"""Chat speed: plain `model.generate` against the studio's decoding, plus side-by-side cost and start-up.

    python -m bench.chat                 # embedded model, 8 fixed prompts, greedy, up to 64 new tokens

- Single answer: generated tokens per second of plain `generate` on the model as transformers
  loads it, and of the studio's `stream_chat`; the greedy answers must be identical.
- Side by side: `stream_pair` (base and a LoRA-tuned model answering together) against one
  answer of the tuned model alone, same prompts and length.
- Start-up: loading the cached embedded model, and `app.py` from launch to its page answering.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import torch

PROJECT = Path(__file__).resolve().parent.parent
PROMPTS = [
    "Explain what a neural network is in three sentences.",
    "Write a short poem about the sea.",
    "What is the capital of France, and what is it known for?",
    "Give me three tips for learning Python.",
    "Classify the review as positive or negative: the soup was cold and the waiter rude.",
    "Summarise the plot of Romeo and Juliet.",
    "用一句话介绍一下北京。",
    "什么是机器学习？",
]


def messages(prompt: str) -> list[dict]:
    return [{"role": "user", "content": prompt}]


def plain_answers(model, tokenizer, max_new_tokens: int) -> tuple[list[str], int, float]:
    answers, tokens, start = [], 0, time.perf_counter()
    for prompt in PROMPTS:
        inputs = tokenizer.apply_chat_template(messages(prompt), add_generation_prompt=True, return_tensors="pt",
                                               return_dict=True)
        with torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        new = output[0, inputs["input_ids"].shape[1]:]
        tokens += len(new)
        answers.append(tokenizer.decode(new, skip_special_tokens=True))
    return answers, tokens, time.perf_counter() - start


def studio_answers(model, tokenizer, max_new_tokens: int) -> tuple[list[str], float]:
    from studio.generate import GenerationSettings, stream_chat

    settings = GenerationSettings(temperature=0, max_new_tokens=max_new_tokens)
    answers, start = [], time.perf_counter()
    for prompt in PROMPTS:
        text = ""
        for text in stream_chat(model, tokenizer, messages(prompt), settings):
            pass
        answers.append(text)
    return answers, time.perf_counter() - start


def tuned_run(folder: Path) -> Path:
    """A run folder holding a LoRA adapter with random (non-zero) weights: for timing, not quality."""
    from peft import LoraConfig, get_peft_model

    from studio.models import load_model

    model, tokenizer = load_model("embedded")
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, target_modules="all-linear",
                                             init_lora_weights=False))
    model.save_pretrained(folder / "adapter")
    tokenizer.save_pretrained(folder / "adapter")
    (folder / "config.yaml").write_text("base_model: embedded\n")
    return folder


def pair_cost(run: Path, max_new_tokens: int) -> dict:
    from studio.generate import GenerationSettings, cached_model, stream_chat, stream_pair

    settings = GenerationSettings(temperature=0, max_new_tokens=max_new_tokens)
    tuned, tokenizer = cached_model(trained=run)
    single = pair = 0.0
    for prompt in PROMPTS:
        start = time.perf_counter()
        for answer in stream_chat(tuned, tokenizer, messages(prompt), settings):
            pass
        single += time.perf_counter() - start
        start = time.perf_counter()
        for base_answer, tuned_answer in stream_pair(run, messages(prompt), settings):
            pass
        pair += time.perf_counter() - start
    return {"one_answer_seconds": round(single, 2), "side_by_side_seconds": round(pair, 2),
            "ratio": round(pair / single, 2)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def app_ready_seconds(workspace: Path, limit: float = 60.0) -> float:
    port = free_port()
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(PROJECT / "app.py"), "--no-browser", "--port", str(port),
                                "--workspace", str(workspace)], cwd=PROJECT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < limit:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"app.py did not answer within {limit:.0f} s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2, help="Alternate plain and studio this many times; the best counts.")
    parser.add_argument("--json", help="Also write the results to this file.")
    args = parser.parse_args(argv)

    from studio.generate import load_for_chat
    from studio.models import load_model
    from studio.workspace import workspace_root

    start = time.perf_counter()
    plain, tokenizer = load_model("embedded")  # also builds the cache on a first run
    cached_load = time.perf_counter() - start
    plain.eval()
    studio, _ = load_for_chat("embedded")
    plain_best = studio_best = 0.0
    identical = True
    for _ in range(args.repeat):
        expected, tokens, seconds = plain_answers(plain, tokenizer, args.max_new_tokens)
        plain_best = max(plain_best, tokens / seconds)
        answers, seconds = studio_answers(studio, tokenizer, args.max_new_tokens)
        studio_best = max(studio_best, tokens / seconds)
        identical = identical and answers == expected
    with tempfile.TemporaryDirectory() as folder:
        pair = pair_cost(tuned_run(Path(folder)), args.max_new_tokens)
    report = {
        "prompts": len(PROMPTS), "generated_tokens": tokens,
        "plain_generate_tokens_per_second": round(plain_best, 1),
        "studio_tokens_per_second": round(studio_best, 1),
        "speedup": round(studio_best / plain_best, 2),
        "greedy_answers_identical": identical,
        "side_by_side": pair,
        "cached_model_load_seconds": round(cached_load, 2),
        "app_ready_seconds": round(app_ready_seconds(workspace_root()), 1),
    }
    print(json.dumps(report, indent=2))
    print(f"\nstudio {report['studio_tokens_per_second']} tok/s vs plain generate "
          f"{report['plain_generate_tokens_per_second']} tok/s ({report['speedup']}x), greedy answers identical: "
          f"{identical}; side by side costs {pair['ratio']}x one answer; app ready in {report['app_ready_seconds']} s; "
          f"cached model loads in {report['cached_model_load_seconds']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
