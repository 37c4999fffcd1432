"""Training speed: the studio's path against the fastest plain Trainer + PEFT configuration.

    python -m bench.train                      # first 80 rows of alpaca_en_demo.json, embedded model
    python -m bench.train --rows 40 --repeat 2
    python -m bench.train --sweep-rows 0       # the baseline at --batch-size in fp32, no sweep
    python -m bench.train --method dora        # or qlora, freeze (top 2 layers), full
    python -m bench.train --data ../shared/fixtures/llamafactory/c4_demo.jsonl   # raw text: continued pre-training
    python -m bench.train --profile            # and where the studio's time goes, by operator

Both sides train the same method (LoRA: r=8, alpha 16, every linear layer, no dropout) on the same
tokenised examples, for one epoch; rows of raw text train every token, as continued pre-training does. The
baseline is what LLaMA-Factory runs: `transformers.Trainer`, `DataCollatorForSeq2Seq` padding each batch to its
longest row, the model's own loss, at the batch size (1, 2, 4 or 8) and autocast (bf16 or none) that train the
first --sweep-rows rows fastest here. The studio packs each batch (no padding, no example attending to another)
and projects onto the vocabulary only where a label is trained.
Throughput counts real tokens (padding excluded) per second of `trainer.train()`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path

import torch

from bench import publish

PROJECT = Path(__file__).resolve().parent.parent
METHODS = ("lora", "dora", "qlora", "freeze", "full")
TRAINABLE_LAYERS = 2  # freeze: the top layers that train, the studio's default
ALPACA = PROJECT.parent / "shared" / "fixtures" / "llamafactory" / "alpaca_en_demo.json"


def timed_product(a: torch.Tensor, b: torch.Tensor, repeats: int) -> float:
    """The best rate of a @ b over `repeats` products after one warm-up, in FLOP/s (a GPU is synchronised)."""
    flops = 2 * a.shape[0] * a.shape[1] * b.shape[1]
    sync = torch.cuda.synchronize if a.is_cuda else (lambda: None)
    a @ b
    sync()
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        sync()
        best = max(best, flops / (time.perf_counter() - start))
    return best


def matmul_peak(size: int = 1536, repeats: int = 8, device: str = "cpu") -> float:
    """The best fp32 matrix-multiply rate of the device that trains, in FLOP/s (a GPU: on 8192-wide squares)."""
    size = 8192 if device == "cuda" else size
    return timed_product(torch.randn(size, size, device=device), torch.randn(size, size, device=device), repeats)


def bf16_matmul_peak(hidden: int, intermediate: int, tokens: int = 1024, repeats: int = 8,
                     device: str = "cpu") -> float:
    """The best bf16 matrix-multiply rate on the model's own shapes (a batch of tokens through its MLP
    projections), in FLOP/s; 0 where bf16 products are not native."""
    if not fast_bf16(device):
        return 0.0
    best = 0.0
    for rows, inner, outer in ((tokens, hidden, intermediate), (tokens, intermediate, hidden)):
        a = torch.randn(rows, inner, dtype=torch.bfloat16, device=device)
        b = torch.randn(inner, outer, dtype=torch.bfloat16, device=device)
        best = max(best, timed_product(a, b, repeats))
    return best


def fast_bf16(device: str) -> bool:
    """Whether bf16 products are native where training runs: a CPU with bf16 units, or a GPU that has them."""
    from studio.training.common import cpu_has_fast_bf16

    return torch.cuda.is_bf16_supported() if device == "cuda" else cpu_has_fast_bf16()


def tokenised_rows(path: Path, rows: int, tokenizer, cutoff_length: int) -> list[dict]:
    """The first `rows` rows as training examples: answers learned (SFT), or every token of raw text."""
    from studio import data, tokens

    dataset = data.load_dataset(path)
    if dataset.shape == "text":
        return tokens.tokenize_text(dataset.rows[:rows], tokenizer, cutoff_length)
    examples, _ = tokens.tokenize_sft(dataset.rows[:rows], dataset.shape, tokenizer, cutoff_length, False)
    return examples


def training_arguments(output_dir: str, batch_size: int, seed: int, **precision):
    from transformers import TrainingArguments

    return TrainingArguments(**precision,
        output_dir=output_dir, per_device_train_batch_size=batch_size, num_train_epochs=1, learning_rate=2e-4,
        lr_scheduler_type="cosine", logging_steps=1, save_strategy="no", eval_strategy="no", report_to=[],
        seed=seed, disable_tqdm=True, use_cpu=not torch.cuda.is_available(), remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
    )


def plain_model(model, method: str):
    """The model as transformers and PEFT alone train it with this method (QLoRA: after PEFT's k-bit preparation,
    without the gradient checkpointing it turns on by default)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if method == "full":
        return model
    if method == "freeze":
        model.requires_grad_(False)
        model.model.layers[-TRAINABLE_LAYERS:].requires_grad_(True)
        return model
    if method == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, lora_dropout=0.0,
                                            target_modules="all-linear", use_dora=method == "dora"))


def studio_config(method: str):
    from studio.config import RunConfig

    return RunConfig(method=method, lora_rank=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear",
                     trainable_layers=TRAINABLE_LAYERS)


def baseline_trainer(model, tokenizer, examples, arguments, method: str = "lora"):
    from transformers import DataCollatorForSeq2Seq, Trainer

    return Trainer(model=plain_model(model, method), args=arguments, train_dataset=examples,
                   processing_class=tokenizer,
                   data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100))


def studio_trainer(model, tokenizer, examples, arguments, method: str = "lora"):
    from transformers import DataCollatorForSeq2Seq

    from studio.methods import apply_method
    from studio.training.packing import packing_collator
    from studio.training.sft import make_trainer_class

    model = apply_method(model, studio_config(method), total_steps=1)
    collator = packing_collator(model, tokenizer.pad_token_id) or DataCollatorForSeq2Seq(
        tokenizer, padding=True, label_pad_token_id=-100)
    return make_trainer_class()(model=model, args=arguments, train_dataset=examples, processing_class=tokenizer,
                                data_collator=collator)


def train_once(kind: str, model_name: str, examples: list[dict], batch_size: int, seed: int, bf16: bool = False,
               method: str = "lora", profile: bool = False) -> dict:
    """One epoch of one side; with `profile`, also the operators that took its time (the timing is then slower)."""
    from transformers import PrinterCallback, set_seed

    from studio.methods import method_bits
    from studio.models import load_model, pick_device
    from studio.training.common import mixed_precision, weight_precision

    set_seed(seed)
    build = baseline_trainer if kind == "baseline" else studio_trainer
    # The studio's default number format ("auto") on this machine; the baseline loads as plain transformers does
    # (a 4-bit base computing in bf16 where autocast is on, as the QLoRA recipe has it).
    studio = kind == "studio"
    weights = (weight_precision(studio_config(method)) if studio
               else "bf16" if bf16 and method_bits(method) else "fp32")
    model, tokenizer = load_model(model_name, weights, method_bits(method))
    precision = mixed_precision("auto", pick_device()) if studio else ({"bf16": True} if bf16 else {})
    with tempfile.TemporaryDirectory() as output_dir:
        trainer = build(model, tokenizer, examples, training_arguments(output_dir, batch_size, seed, **precision),
                        method)
        trainer.remove_callback(PrinterCallback)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        with operator_profile(profile) as operators:
            start = time.perf_counter()
            result = trainer.train()
            seconds = time.perf_counter() - start
    real_tokens = sum(len(example["input_ids"]) for example in examples)
    gpu = {"gpu_peak_mb": round(torch.cuda.max_memory_allocated() / 2**20)} if torch.cuda.is_available() else {}
    return {"seconds": round(seconds, 1), "tokens_per_second": round(real_tokens / seconds, 1),
            "train_loss": round(result.training_loss, 4), "real_tokens": real_tokens, "batch_size": batch_size,
            **({} if studio else {"bf16_autocast": bf16}), **gpu, **({"operators": operators} if profile else {})}


@contextlib.contextmanager
def operator_profile(enabled: bool, top: int = 15):
    """Yields a list that fills, on exit, with the `top` operators by their own time: [name, seconds, share]."""
    operators: list = []
    if not enabled:
        yield operators
        return
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=activities) as profiler:
        yield operators
    events = profiler.key_averages()
    total = sum(event.self_cpu_time_total for event in events) or 1
    for event in sorted(events, key=lambda event: -event.self_cpu_time_total)[:top]:
        operators.append([event.key, round(event.self_cpu_time_total / 1e6, 2),
                          round(event.self_cpu_time_total / total, 3)])


def flops_per_token(model, method: str) -> int:
    """Matrix-multiply FLOPs a trained token costs: 2 per weight for the forward, 2 more for the input gradient
    wherever a gradient flows back through it, 2 more for the weight gradient where the weight itself trains
    (full, freeze's top layers). Below freeze's trained layers no gradient flows. The embedding is a lookup (a
    head tied to it is counted as the head)."""
    layers = model.model.layers
    counts = [sum(parameter.numel() for parameter in layer.parameters()) for layer in layers]
    head = model.get_output_embeddings().weight.numel()
    if method == "full":
        return 6 * (sum(counts) + head)
    if method == "freeze":
        trained = counts[len(counts) - TRAINABLE_LAYERS:]
        return 2 * sum(counts[:len(counts) - TRAINABLE_LAYERS]) + 6 * sum(trained) + 4 * head
    return 4 * (sum(counts) + head)


def fastest_baseline(model_name: str, examples: list[dict], seed: int, method: str = "lora",
                     batch_sizes: tuple[int, ...] = (1, 2, 4, 8)) -> tuple[dict, list[dict]]:
    """The plain Trainer + PEFT configuration a careful user would pick: batch 1, 2, 4 or 8 (padded to the
    batch's longest row), bf16 autocast on or off where the device has bf16 units, each timed on these examples."""
    from studio.models import pick_device

    tried = []
    for batch_size in batch_sizes:
        for bf16 in ((False, True) if fast_bf16(pick_device()) else (False,)):
            tried.append(train_once("baseline", model_name, examples, batch_size, seed, bf16, method))
            print("baseline try", json.dumps(tried[-1]), flush=True)
    best = max(tried, key=lambda result: result["tokens_per_second"])
    return {"batch_size": best["batch_size"], "bf16": best["bf16_autocast"]}, tried


def padded_tokens(examples: list[dict], batch_size: int, seed: int) -> int:
    """Tokens the baseline computes, padding included (the Trainer's shuffled batches)."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(examples), generator=generator).tolist()
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    return sum(len(batch) * max(len(examples[index]["input_ids"]) for index in batch) for batch in batches)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ALPACA))
    parser.add_argument("--rows", type=int, default=80)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--method", choices=METHODS, default="lora")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--cutoff-length", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=1, help="Alternate the two sides this many times; the best of each counts.")
    parser.add_argument("--sweep-rows", type=int, default=16,
                        help="Rows each plain configuration is timed on before the fastest trains all of them (0: "
                             "no sweep, the baseline trains at --batch-size in fp32).")
    parser.add_argument("--batches", default="1,2,4,8",
                        help="The plain batch sizes the sweep tries (fewer where the larger do not fit in memory).")
    parser.add_argument("--profile", action="store_true",
                        help="Then train the studio's side once more under torch.profiler: its time by operator.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="Also write the results to this file.")
    args = parser.parse_args(argv)

    from studio.models import load_model

    _, tokenizer = load_model(args.model)
    examples = tokenised_rows(Path(args.data), args.rows, tokenizer, args.cutoff_length)
    plain, tried = ({"batch_size": args.batch_size, "bf16": False}, []) if not args.sweep_rows else \
        fastest_baseline(args.model, examples[:args.sweep_rows], args.seed, args.method,
                         tuple(int(size) for size in args.batches.split(",")))
    runs = {"baseline": [], "studio": []}
    for _ in range(args.repeat):
        for kind in runs:
            size, bf16 = (plain["batch_size"], plain["bf16"]) if kind == "baseline" else (args.batch_size, False)
            runs[kind].append(train_once(kind, args.model, examples, size, args.seed, bf16, args.method))
            print(kind, json.dumps(runs[kind][-1]), flush=True)
    best = {kind: max(results, key=lambda result: result["tokens_per_second"]) for kind, results in runs.items()}
    report = {"method": args.method, "rows": len(examples), "batch_size": args.batch_size,
              "real_tokens": best["studio"]["real_tokens"], "baseline_tried": tried, "sweep_rows": args.sweep_rows,
              "padding_share_baseline": round(1 - best["studio"]["real_tokens"] / padded_tokens(
                  examples, plain["batch_size"], args.seed), 3),
              **compared(best, args.model, args.method)}
    if plain["batch_size"] != args.batch_size:
        report["studio_at_baseline_batch"] = same_steps(args, examples, plain["batch_size"], best["baseline"])
    if args.profile:
        report["studio_operators"] = train_once("studio", args.model, examples, args.batch_size, args.seed,
                                                method=args.method, profile=True)["operators"]
    return publish(report, summary_line(report, plain), args.json)


def same_steps(args, examples: list[dict], batch_size: int, baseline: dict) -> dict:
    """The studio at the baseline's batch size: the same optimizer steps on the same examples, so the two losses
    are one computation's within float error (at its own batch size the studio takes fewer, larger steps)."""
    same = train_once("studio", args.model, examples, batch_size, args.seed, method=args.method)
    print("studio at the baseline's batch", json.dumps(same), flush=True)
    return {**same, **versus(same, baseline)}


def versus(studio: dict, baseline: dict) -> dict:
    """The studio's speed-up over the baseline and how far apart their train losses are (a share)."""
    return {"speedup": round(studio["tokens_per_second"] / baseline["tokens_per_second"], 2),
            "loss_difference": round(abs(studio["train_loss"] / baseline["train_loss"] - 1), 4)}


def compared(best: dict, model_name: str, method: str) -> dict:
    """Both sides, their ratio, and the share of the device's fp32 and bf16 matmul peaks each reaches."""
    from studio.models import load_model, pick_device

    device = pick_device()
    peak = matmul_peak(device=device)
    model, _ = load_model(model_name)
    flops = flops_per_token(model, method)
    text = model.config.get_text_config()
    bf16_peak = bf16_matmul_peak(text.hidden_size, text.intermediate_size, tokens=8192 if device == "cuda" else 1024,
                                 device=device)
    return {
        "baseline": best["baseline"], "studio": best["studio"],
        **versus(best["studio"], best["baseline"]),
        "matmul_flops_per_token": flops,
        "matmul_peak_gflops": round(peak / 1e9, 1),
        "share_of_peak": {kind: round(best[kind]["tokens_per_second"] * flops / peak, 3) for kind in best},
        "bf16_matmul_peak_gflops": round(bf16_peak / 1e9, 1),
        "share_of_bf16_peak": {kind: round(best[kind]["tokens_per_second"] * flops / bf16_peak, 3)
                               for kind in best} if bf16_peak else None,
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
    }


def summary_line(report: dict, plain: dict) -> str:
    bf16 = report["share_of_bf16_peak"]
    same = report.get("studio_at_baseline_batch")
    same_text = (f"; the studio at batch {plain['batch_size']} too (the same steps): {same['tokens_per_second']} tok/s, "
                 f"{same['speedup']}x, train loss {same['train_loss']} ({same['loss_difference'] * 100:.2f}% apart)"
                 if same else "")
    return (f"{report['method']}: studio {report['studio']['tokens_per_second']} tok/s vs baseline "
            f"{report['baseline']['tokens_per_second']} tok/s: {report['speedup']}x; train loss "
            f"{report['studio']['train_loss']} vs {report['baseline']['train_loss']} "
            f"({report['loss_difference'] * 100:.2f}% apart); the baseline at batch {plain['batch_size']}"
            f"{' with bf16 autocast' if plain['bf16'] else ''} (the fastest plain configuration tried); "
            f"{report['share_of_peak']['studio'] * 100:.0f}% of the {report['matmul_peak_gflops']} GFLOP/s fp32 "
            f"matmul peak" + (f", {bf16['studio'] * 100:.0f}% of the {report['bf16_matmul_peak_gflops']} GFLOP/s "
                              f"bf16 peak on the model's shapes" if bf16 else "") + same_text)


if __name__ == "__main__":
    main()
