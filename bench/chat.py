"""Chat speed: plain `model.generate` against the studio's decoding, plus side-by-side cost and start-up.

    python -m bench.chat                 # embedded model, 8 fixed prompts, greedy, up to 64 new tokens

- Single answer: generated tokens per second of plain `generate` on the model as transformers
  loads it, and of the studio's `stream_chat`; the greedy answers must be identical.
- Side by side: `stream_pair` (base and a tuned model answering together; LoRA, DoRA, (IA)3
  and full fine-tuning, with random tuned weights) against one answer of the tuned model alone, same prompts and limit: in all, and per decoding step (the
  pair runs until the longer of its two answers ends).
- Precisions: each chat precision (fp32, bf16, int8, int4; `studio.precision`) through the studio's
  decoding: tokens/s, the weights' memory, the bytes of weights read per token against the
  machine's copy and read bandwidth (the speed each allows, and the share of it reached), and the
  greedy answers' agreement with fp32's (answers identical, and the share of fp32's tokens each
  answer repeats before it first differs).
- Start-up: loading the cached embedded model (and, apart, importing transformers and peft,
  which a fresh process pays once), and `app.py` from launch to its page answering.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import torch

from bench import publish

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


METHODS = ("lora", "dora", "ia3", "full")
PRECISIONS = ("fp32", "bf16", "int8", "int4")


def bandwidths(megabytes: int = 512, repeats: int = 5) -> dict[str, float]:
    """Bytes per second of memory, the best of a few passes over a buffer larger than the caches: `copy` copies it
    into another (the bytes copied, counted once, though each is read and written), `read` sums it (each byte read
    once, as decoding reads its weights)."""
    source = torch.ones(megabytes * 2**20 // 4)
    target = torch.empty_like(source)
    ways = {"copy": lambda: target.copy_(source), "read": lambda: source.sum()}
    rates = {}
    for name, way in ways.items():
        way()
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            way()
            best = min(best, time.perf_counter() - start)
        rates[name] = source.numel() * source.element_size() / best
    return rates


def read_bytes_per_token(model) -> int:
    """Bytes of weights one decoding step reads: every linear layer's weights (quantized ones as stored) and the
    norms; an embedding is only looked up, a row per token. Counted by tensor (the weights may share one region
    of memory, see studio.huge_pages), each once."""
    seen, total = set(), 0
    for module in model.modules():
        if isinstance(module, torch.nn.Embedding) or type(module).__name__ == "Int8Embedding":
            continue
        packed = [("packed", module.packed)] if type(module).__name__ == "PackedLinear" else []
        for name, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False), *packed]:
            key = tensor.data_ptr() if tensor.layout == torch.strided else id(tensor)
            if key not in seen and tensor.dim() >= 1 and "inv_freq" not in name:  # rotary angles: not weights
                seen.add(key)
                total += tensor.numel() * tensor.element_size()
    return total


def agreement(tokenizer, answers: list[str], reference: list[str]) -> dict:
    """How far greedy answers repeat the reference ones: how many are identical, and the share of the reference's
    tokens each repeats before it first differs (averaged over the prompts)."""
    shares = []
    for answer, expected in zip(answers, reference):
        mine, theirs = tokenizer(answer)["input_ids"], tokenizer(expected)["input_ids"]
        same = next((index for index, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
        shares.append(1.0 if mine == theirs else same / max(len(theirs), 1))
    return {"identical_answers": sum(a == b for a, b in zip(answers, reference)),
            "tokens_agreeing_before_first_difference": round(sum(shares) / len(shares), 3)}


def precision_rows(tokenizer, reference: list[str], max_new_tokens: int, repeat: int, bandwidth: dict) -> dict:
    """Per precision: tokens/s (best of `repeat`), weights' memory, bytes read per token, the speeds the copy and
    the read bandwidth allow and the share of each reached, and agreement with fp32's greedy answers
    (`reference`)."""
    from studio.generate import load_for_chat
    from studio.precision import weight_bytes

    rows = {}
    for name in PRECISIONS:
        model, _ = load_for_chat("embedded", precision=name)
        best, answers = 0.0, []
        for _ in range(repeat):
            answers, seconds = studio_answers(model, tokenizer, max_new_tokens)
            tokens = sum(len(tokenizer(answer)["input_ids"]) for answer in answers)
            best = max(best, tokens / seconds)
        read = read_bytes_per_token(model)
        limits = {kind: rate / read for kind, rate in bandwidth.items()}
        rows[name] = {"tokens_per_second": round(best, 1), "weight_mb": round(weight_bytes(model) / 1e6),
                      "read_mb_per_token": round(read / 1e6),
                      "copy_bandwidth_limit_tokens_per_second": round(limits["copy"], 1),
                      "share_of_copy_limit": round(best / limits["copy"], 2),
                      "read_bandwidth_limit_tokens_per_second": round(limits["read"], 1),
                      "share_of_read_limit": round(best / limits["read"], 2),
                      **agreement(tokenizer, answers, reference)}
        del model
    return rows


def tuned_run(folder: Path, method: str = "lora") -> Path:
    """A run folder with random (non-zero) tuned weights of this method: for timing, not quality."""
    from peft import IA3Config, LoraConfig, get_peft_model

    from studio.models import load_model

    model, tokenizer = load_model("embedded")
    torch.manual_seed(0)
    if method == "full":
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn_like(parameter) * 0.002)
        model.save_pretrained(folder / "model")
        tokenizer.save_pretrained(folder / "model")
    else:
        config = (IA3Config(task_type="CAUSAL_LM") if method == "ia3" else
                  LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, target_modules="all-linear",
                             init_lora_weights=False, use_dora=method == "dora"))
        model = get_peft_model(model, config)
        if method == "ia3":  # (IA)3 starts as the identity
            with torch.no_grad():
                for name, parameter in model.named_parameters():
                    if "ia3_l" in name:
                        parameter.add_(torch.randn_like(parameter) * 0.1)
        model.save_pretrained(folder / "adapter")
        tokenizer.save_pretrained(folder / "adapter")
    (folder / "config.yaml").write_text("base_model: embedded\n")
    return folder


@contextlib.contextmanager
def counted_steps():
    """Count the decoding steps (one token for every row) that `studio.generate` takes meanwhile."""
    import studio.generate as generate

    real, counter = generate.decode, {"steps": 0}

    def counting(*args, **kwargs):
        for answers in real(*args, **kwargs):
            counter["steps"] += 1
            yield answers

    generate.decode = counting
    try:
        yield counter
    finally:
        generate.decode = real


def pair_cost(run: Path, max_new_tokens: int) -> dict:
    """Side by side against the tuned model answering alone: in total and per decoding step.

    A pair takes as many steps as the longer of its two answers, so where the base answer runs
    longer, the pair waits for it; the cost per step is the like-for-like figure.
    """
    from studio.generate import GenerationSettings, cached_model, stream_chat
    from studio.pairs import stream_pair

    settings = GenerationSettings(temperature=0, max_new_tokens=max_new_tokens)
    tuned, tokenizer = cached_model(trained=run)
    seconds = {"single": 0.0, "pair": 0.0}
    steps = {"single": 0, "pair": 0}
    with counted_steps() as counter:
        for prompt in PROMPTS:
            for kind, answer in (("single", lambda: stream_chat(tuned, tokenizer, messages(prompt), settings)),
                                 ("pair", lambda: stream_pair(run, messages(prompt), settings))):
                before, start = counter["steps"], time.perf_counter()
                for _ in answer():
                    pass
                seconds[kind] += time.perf_counter() - start
                steps[kind] += counter["steps"] - before
    return {"one_answer_seconds": round(seconds["single"], 2), "one_answer_steps": steps["single"],
            "side_by_side_seconds": round(seconds["pair"], 2), "side_by_side_steps": steps["pair"],
            "ratio": round(seconds["pair"] / seconds["single"], 2),
            "ratio_per_step": round(seconds["pair"] / steps["pair"] / (seconds["single"] / steps["single"]), 2)}


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
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"Side by side for these tuning methods, of {', '.join(METHODS)} (first: the headline).")
    parser.add_argument("--json", help="Also write the results to this file.")
    args = parser.parse_args(argv)

    from studio.generate import load_for_chat
    from studio.models import load_model, resolve_source
    from studio.workspace import workspace_root

    start = time.perf_counter()
    import peft  # noqa: F401  (what a fresh process pays once, before its first model)
    from transformers.models.llama import modeling_llama  # noqa: F401
    imports = time.perf_counter() - start
    start = time.perf_counter()
    resolve_source("embedded")  # builds the cache on a first run: once per workspace, not part of a load
    first_conversion = time.perf_counter() - start
    start = time.perf_counter()
    plain, tokenizer = load_model("embedded")
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
    bandwidth = bandwidths()
    precisions = precision_rows(tokenizer, expected, args.max_new_tokens, args.repeat, bandwidth)
    pairs = {}
    for method in args.methods.split(","):
        with tempfile.TemporaryDirectory() as folder:
            pairs[method] = pair_cost(tuned_run(Path(folder) / method, method), args.max_new_tokens)
    pair = next(iter(pairs.values()))
    report = {
        "prompts": len(PROMPTS), "generated_tokens": tokens,
        "plain_generate_tokens_per_second": round(plain_best, 1),
        "studio_tokens_per_second": round(studio_best, 1),
        "speedup": round(studio_best / plain_best, 2),
        "greedy_answers_identical": identical,
        "copy_bandwidth_gb_per_second": round(bandwidth["copy"] / 1e9, 1),
        "read_bandwidth_gb_per_second": round(bandwidth["read"] / 1e9, 1),
        "precisions": precisions,
        "side_by_side": pairs,
        "cached_model_load_seconds": round(cached_load, 2),
        "cache_build_seconds": round(first_conversion, 2),  # the one-time conversion (near 0 once the cache exists)
        "library_import_seconds": round(imports, 2),
        "app_ready_seconds": round(app_ready_seconds(workspace_root()), 1),
    }
    summary = (f"studio {report['studio_tokens_per_second']} tok/s vs plain generate "
               f"{report['plain_generate_tokens_per_second']} tok/s ({report['speedup']}x), greedy answers identical: "
               f"{identical}; side by side ({next(iter(pairs))}) costs {pair['ratio_per_step']}x one answer per step ({pair['ratio']}x in all, "
               f"{pair['side_by_side_steps']} steps against {pair['one_answer_steps']}); app ready in {report['app_ready_seconds']} s; "
               f"cached model loads in {report['cached_model_load_seconds']} s "
               f"(+{report['library_import_seconds']} s importing transformers and peft in a fresh process"
               + (f"; this first run built the cache in {first_conversion:.1f} s" if first_conversion >= 1 else "")
               + "). "
               "Precisions: " + "; ".join(
                   f"{name} {row['tokens_per_second']} tok/s ({row['tokens_per_second'] / plain_best:.2f}x plain), "
                   f"{row['weight_mb']} MB, {row['share_of_copy_limit']:.0%} / {row['share_of_read_limit']:.0%} of the "
                   "speed the copy / read bandwidth allows, "
                   f"{row['identical_answers']}/{len(PROMPTS)} answers as fp32's"
                   for name, row in precisions.items()))
    return publish(report, summary, args.json)


if __name__ == "__main__":
    main()
