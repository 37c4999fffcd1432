"""The tiny model's loss curves for every method and stage, for a fixed seed: a check that a change
to the training code changed no behaviour.

    python -m bench.curves --record curves.json     # before a change
    python -m bench.curves --check curves.json      # after it: every curve equal within 1e-5

Each method trains 8 SFT steps on the review rows; pre-training, DPO and ORPO train LoRA.
The curves depend on the CPU's kernels, so record and check on the same machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REVIEWS = [{"instruction": "classify the review as positive or negative", "input": text, "output": label}
           for text, label in [("great food and friendly staff", "positive"),
                               ("terrible service and cold soup", "negative")] * 6]
PAIRS = [{"prompt": "what is the colour of the sky", "chosen": "the sky is blue",
          "rejected": "the sky is blue and the dog ate the bone"},
         {"prompt": "hello how are you", "chosen": "i am fine thank you", "rejected": "one two three four five"}] * 6
RATES = {"full": 3e-3, "freeze": 3e-3, "ia3": 3e-2, "prefix-tuning": 3e-2, "prompt-tuning": 1e-1, "p-tuning": 1e-2}


def cases() -> list[tuple[str, str, str]]:
    from studio.config import METHODS

    return [(f"sft-{method}", "sft", method) for method in METHODS] + [
        ("pretrain-lora", "pretrain", "lora"), ("dpo-lora", "dpo", "lora"), ("orpo-lora", "orpo", "lora"), ("dpo-full", "dpo", "full")]


def curve(name: str, stage: str, method: str, model_dir: Path, folder: Path) -> dict:
    from studio.config import RunConfig
    from studio.events import read_events
    try:
        from studio.training import run_training
    except ImportError:
        from studio.training import run_training

    if stage in ("dpo", "orpo"):
        rows = PAIRS
    elif stage == "pretrain":
        rows = [{"text": f"{row['input']} is {row['output']}"} for row in REVIEWS]
    else:
        rows = REVIEWS
    dataset = folder / f"{name}.jsonl"
    dataset.write_text("".join(json.dumps(row) + "\n" for row in rows))
    config = RunConfig(base_model=str(model_dir), method=method, stage=stage, dataset=str(dataset),
                       output_dir=str(folder / name), max_steps=8, batch_size=4, learning_rate=RATES.get(method, 1e-2),
                       validation_split=0.25, eval_steps=4, save_steps=4, lora_rank=4, lora_alpha=8,
                       lora_dropout=0.0, warmup_ratio=0.0, lr_scheduler="constant", num_virtual_tokens=4,
                       trainable_layers=1, cutoff_length=64, probe_max_new_tokens=2, seed=7)
    run_training(config)
    events = read_events(folder / name)
    return {"loss": [e["loss"] for e in events if "loss" in e and "eval_loss" not in e],
            "eval_loss": [e["eval_loss"] for e in events if "eval_loss" in e]}


def record() -> dict:
    from tests.conftest import build_tiny_model, build_tiny_tokenizer

    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        os.environ["STUDIO_WORKSPACE"] = str(folder / "workspace")
        tokenizer = build_tiny_tokenizer()
        model_dir = folder / "tiny"
        build_tiny_model(len(tokenizer)).save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
        return {name: curve(name, stage, method, model_dir, folder) for name, stage, method in cases()}


def differences(before: dict, after: dict, tolerance: float = 1e-5) -> list[str]:
    found = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old is None or new is None:
            found.append(f"{name}: only {'after' if old is None else 'before'}")
            continue
        for key in ("loss", "eval_loss"):
            if len(old[key]) != len(new[key]) or any(not math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)
                                                     for a, b in zip(old[key], new[key])):
                found.append(f"{name} {key}: {old[key]} -> {new[key]}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--record", metavar="FILE")
    group.add_argument("--check", metavar="FILE")
    args = parser.parse_args(argv)
    curves = record()
    if args.record:
        Path(args.record).write_text(json.dumps(curves, indent=1))
        print(f"recorded {len(curves)} curves in {args.record}")
        return 0
    found = differences(json.loads(Path(args.check).read_text()), curves)
    print("\n".join(found) or f"all {len(curves)} curves equal")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
