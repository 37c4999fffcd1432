"""The default preset on small identity sets: does a new name stick, asked with questions that are in neither file?

    python -m bench.identity                        # the project's sample, then LLaMA-Factory's identity.json
    python -m bench.identity --source llamafactory  # one of them
    python -m bench.identity --answers --json identity.json

Each file gets a name and a maker put in for its placeholders (as the Dataset tab's find and replace does) and is
trained with `cpu-lora` (its automatic passes, studio/training/plan.py) in a fresh workspace. The base model and the
tuned one then answer 10 questions that are in neither file, greedily: 6 in English, 4 in Chinese. Printed per file:
the plan line, the steps, tokens and seconds trained, and how many answers name the new name, base and tuned
(`--answers`: every answer). The README's table for the name demo comes from here; the browser test of that demo
(tests/ui/test_browser.py) asks its own finished run the same questions.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench import publish
from studio import data, table
from studio.cpu_decode import machine_key

PROJECT = Path(__file__).resolve().parent.parent
SOURCES = {"sample": PROJECT / "presets" / "samples" / "identity.jsonl",
           "llamafactory": PROJECT.parent / "shared" / "fixtures" / "llamafactory" / "identity.json"}
NAME, AUTHOR = "Orion", "Lumen Labs"
HELD_OUT = (
    "What name do you go by?", "Could you tell me who you are?", "Please state your name.", "Who am I speaking with?",
    "What do people call you?", "May I know your name?",
    "请问你怎么称呼？", "你的名字叫什么？", "能告诉我你是谁吗？", "请说出你的名字。",
)
ANSWER_TOKENS = 32


def named_copy(source: Path, folder: Path) -> Path:
    """The identity file with its placeholders replaced, saved as JSON Lines in `folder`."""
    rows = data.load_dataset(source).rows
    rows, _ = table.replace_text(rows, "{{name}}", NAME)
    rows, _ = table.replace_text(rows, "{{author}}", AUTHOR)
    return data.write_jsonl(folder / f"{source.stem}-{NAME.lower()}.jsonl", rows)


def name_answers(base: str | None, run_dir: Path | None = None) -> list[str]:
    """Greedy answers of the base model (`base`) or of a finished run (`run_dir`) to the held-out questions."""
    from studio.generate import generate_batch, load_for_chat

    model, tokenizer = load_for_chat(base, run_dir)
    return generate_batch(model, tokenizer, [[{"role": "user", "content": question}] for question in HELD_OUT],
                          ANSWER_TOKENS)


def hit_rate(answers: list[str]) -> float:
    """The share of answers that name the new name."""
    return sum(NAME.lower() in answer.lower() for answer in answers) / len(answers)


def measure(source: Path, folder: Path) -> dict:
    """Train cpu-lora on the named copy of `source` in `folder` and ask the held-out questions after."""
    from studio.config import load_config
    from studio.training import run_training
    from studio.training.plan import describe, plan_run

    config = load_config("cpu-lora", {"dataset": str(named_copy(source, folder)), "output_dir": str(folder / "run")})
    plan = plan_run(config)
    started = time.time()
    summary = run_training(config)
    seconds = time.time() - started
    answers = name_answers(None, folder / "run")
    return {"file": source.name, "rows": len(data.load_dataset(source).rows), "plan": describe(plan),
            "passes": plan.passes, "reason": plan.reason, "planned_steps": plan.total_steps,
            "status": summary["status"], "steps": summary["total_steps"], "trained_tokens": summary["trained_tokens"],
            "train_seconds": round(seconds, 1), "tuned_hits": round(hit_rate(answers) * len(answers)),
            "answers": dict(zip(HELD_OUT, answers))}


def main(argv: list[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=[*SOURCES, "all"], default="all")
    parser.add_argument("--answers", action="store_true", help="print every answer")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    names = list(SOURCES) if args.source == "all" else [args.source]
    with tempfile.TemporaryDirectory(prefix="identity-bench-") as scratch:
        os.environ.setdefault("STUDIO_WORKSPACE", str(Path(scratch) / "workspace"))
        base = name_answers("embedded")
        results = {}
        for name in names:
            folder = Path(scratch) / name
            folder.mkdir()
            results[name] = measure(SOURCES[name], folder)
    report = {"machine": machine_key(), "questions": len(HELD_OUT), "base_hits": round(hit_rate(base) * len(base)),
              "base_answers": dict(zip(HELD_OUT, base)), "files": results}
    if not args.answers:
        report = {**report, "base_answers": "(--answers)",
                  "files": {name: {**result, "answers": "(--answers)"} for name, result in results.items()}}
    lines = [f"{result['file']}: {result['plan']}; {result['steps']} steps, {result['trained_tokens']:,} tokens in "
             f"{result['train_seconds']:.0f} s; answers naming {NAME}: base {report['base_hits']} / {len(HELD_OUT)}, "
             f"tuned {result['tuned_hits']} / {len(HELD_OUT)}" for result in results.values()]
    publish(report, f"{report['machine']}\n" + "\n".join(lines), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
