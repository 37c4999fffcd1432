"""Training speed: the studio's path against the fastest plain Trainer + PEFT configuration.

    python -m bench.train                      # first 80 rows of alpaca_en_demo.json, embedded model
    python -m bench.train --rows 40 --repeat 2
    python -m bench.train --sweep-rows 0       # the baseline at --batch-size in fp32, no sweep

Both sides train the same LoRA (r=8, alpha 16, every linear layer, no dropout) on the same
tokenised examples, for one epoch. The baseline is what LLaMA-Factory runs: `transformers.Trainer`,
`DataCollatorForSeq2Seq` padding each batch to its longest row, the model's own loss, at the batch size
(1, 2, 4 or 8) and autocast (bf16 or none) that train the first --sweep-rows rows fastest here. The studio packs each batch (no padding, no example
attending to another) and projects onto the vocabulary only where a label is trained.
Throughput counts real tokens (padding excluded) per second of `trainer.train()`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from bench import publish

PROJECT = Path(__file__).resolve().parent.parent
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
    from studio import data, tokens

    dataset = data.load_dataset(path)
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


def baseline_trainer(model, tokenizer, examples, arguments):
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer

    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, lora_dropout=0.0,
                                             target_modules="all-linear"))
    return Trainer(model=model, args=arguments, train_dataset=examples, processing_class=tokenizer,
                   data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100))


def studio_trainer(model, tokenizer, examples, arguments):
    from transformers import DataCollatorForSeq2Seq

    from studio.config import RunConfig
    from studio.methods import apply_method
    from studio.training.packing import packing_collator
    from studio.training.sft import make_trainer_class

    model = apply_method(model, RunConfig(method="lora", lora_rank=8, lora_alpha=16, lora_dropout=0.0,
                                          target_modules="all-linear"), total_steps=1)
    collator = packing_collator(model, tokenizer.pad_token_id) or DataCollatorForSeq2Seq(
        tokenizer, padding=True, label_pad_token_id=-100)
    return make_trainer_class()(model=model, args=arguments, train_dataset=examples, processing_class=tokenizer,
                                data_collator=collator)


def train_once(kind: str, model_name: str, examples: list[dict], batch_size: int, seed: int, bf16: bool = False) -> dict:
    from transformers import PrinterCallback, set_seed

    from studio.models import load_model

    from studio.config import RunConfig
    from studio.models import pick_device
    from studio.training.common import mixed_precision, weight_precision

    set_seed(seed)
    build = baseline_trainer if kind == "baseline" else studio_trainer
    # The studio's default number format ("auto") on this machine; the baseline loads as plain transformers does.
    studio = kind == "studio"
    model, tokenizer = load_model(model_name, weight_precision(RunConfig(method="lora")) if studio else "fp32")
    precision = mixed_precision("auto", pick_device()) if studio else ({"bf16": True} if bf16 else {})
    with tempfile.TemporaryDirectory() as output_dir:
        trainer = build(model, tokenizer, examples, training_arguments(output_dir, batch_size, seed, **precision))
        trainer.remove_callback(PrinterCallback)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - start
    real_tokens = sum(len(example["input_ids"]) for example in examples)
    gpu = {"gpu_peak_mb": round(torch.cuda.max_memory_allocated() / 2**20)} if torch.cuda.is_available() else {}
    return {"seconds": round(seconds, 1), "tokens_per_second": round(real_tokens / seconds, 1),
            "train_loss": round(result.training_loss, 4), "real_tokens": real_tokens, "batch_size": batch_size,
            **({} if studio else {"bf16_autocast": bf16}), **gpu}


def fastest_baseline(model_name: str, examples: list[dict], seed: int) -> tuple[dict, list[dict]]:
    """The plain Trainer + PEFT configuration a careful user would pick: batch 1, 2, 4 or 8 (padded to the
    batch's longest row), bf16 autocast on or off where the device has bf16 units, each timed on these examples."""
    from studio.models import pick_device

    tried = []
    for batch_size in (1, 2, 4, 8):
        for bf16 in ((False, True) if fast_bf16(pick_device()) else (False,)):
            tried.append(train_once("baseline", model_name, examples, batch_size, seed, bf16))
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
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--cutoff-length", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=1, help="Alternate the two sides this many times; the best of each counts.")
    parser.add_argument("--sweep-rows", type=int, default=16,
                        help="Rows each plain configuration is timed on before the fastest trains all of them (0: "
                             "no sweep, the baseline trains at --batch-size in fp32).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="Also write the results to this file.")
    args = parser.parse_args(argv)

    from studio.models import load_model

    _, tokenizer = load_model(args.model)
    examples = tokenised_rows(Path(args.data), args.rows, tokenizer, args.cutoff_length)
    plain, tried = ({"batch_size": args.batch_size, "bf16": False}, []) if not args.sweep_rows else \
        fastest_baseline(args.model, examples[:args.sweep_rows], args.seed)
    runs = {"baseline": [], "studio": []}
    for _ in range(args.repeat):
        for kind in runs:
            size, bf16 = (plain["batch_size"], plain["bf16"]) if kind == "baseline" else (args.batch_size, False)
            runs[kind].append(train_once(kind, args.model, examples, size, args.seed, bf16))
            print(kind, json.dumps(runs[kind][-1]), flush=True)
    best = {kind: max(results, key=lambda result: result["tokens_per_second"]) for kind, results in runs.items()}
    from studio.models import pick_device

    device = pick_device()
    peak = matmul_peak(device=device)
    model, _ = load_model(args.model)
    parameters = sum(parameter.numel() for name, parameter in model.named_parameters() if "embed_tokens" not in name)
    if model.config.tie_word_embeddings:
        parameters += model.get_output_embeddings().weight.numel()
    # Frozen weights cost a forward and an input-gradient matmul per token (2 + 2 FLOPs per weight).
    flops_per_token = 4 * parameters
    text = model.config.get_text_config()
    bf16_peak = bf16_matmul_peak(text.hidden_size, text.intermediate_size, tokens=8192 if device == "cuda" else 1024,
                                 device=device)
    report = {
        "rows": len(examples), "batch_size": args.batch_size, "real_tokens": best["studio"]["real_tokens"],
        "baseline_tried": tried, "sweep_rows": args.sweep_rows,
        "padding_share_baseline": round(1 - best["studio"]["real_tokens"] / padded_tokens(
            examples, plain["batch_size"], args.seed), 3),
        "baseline": best["baseline"], "studio": best["studio"],
        "speedup": round(best["studio"]["tokens_per_second"] / best["baseline"]["tokens_per_second"], 2),
        "loss_difference": round(abs(best["studio"]["train_loss"] / best["baseline"]["train_loss"] - 1), 4),
        "matmul_peak_gflops": round(peak / 1e9, 1),
        "share_of_peak": {kind: round(best[kind]["tokens_per_second"] * flops_per_token / peak, 3) for kind in best},
        "bf16_matmul_peak_gflops": round(bf16_peak / 1e9, 1),
        "share_of_bf16_peak": {kind: round(best[kind]["tokens_per_second"] * flops_per_token / bf16_peak, 3)
                               for kind in best} if bf16_peak else None,
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
    }
    summary = (f"studio {report['studio']['tokens_per_second']} tok/s vs baseline {report['baseline']['tokens_per_second']} "
               f"tok/s: {report['speedup']}x; train loss {report['studio']['train_loss']} vs {report['baseline']['train_loss']} "
               f"({report['loss_difference'] * 100:.2f}% apart); the baseline at batch {plain['batch_size']}"
               f"{' with bf16 autocast' if plain['bf16'] else ''} (the fastest plain configuration tried); "
               f"{report['share_of_peak']['studio'] * 100:.0f}% of the {report['matmul_peak_gflops']} GFLOP/s fp32 "
               f"matmul peak" + (f", {report['share_of_bf16_peak']['studio'] * 100:.0f}% of the "
                                 f"{report['bf16_matmul_peak_gflops']} GFLOP/s bf16 peak on the model's shapes"
                                 if bf16_peak else ""))
    return publish(report, summary, args.json)


if __name__ == "__main__":
    main()
