"""The command line: the same code path the UI uses.

    python -m studio train --preset cpu-lora --dataset data.jsonl --output runs/demo [--set key=value ...]
    python -m studio queue add --preset cpu-lora --dataset data.jsonl [--name demo] [--set key=value ...]
    python -m studio queue list | remove NAME | run
    python -m studio experiment NAME --dataset data.jsonl --methods lora,dora,ia3 [--run]   (studio/cli_experiments.py)
    python -m studio report RUN | --experiment NAME | --runs RUN,RUN
    python -m studio generate [--base MODEL] [--adapter runs/demo] --prompt "..." [--temperature 0.7 ...]
    python -m studio eval [--base MODEL] [--adapter runs/demo] --dataset test.jsonl
    python -m studio export --run runs/demo --output merged/ [--merge]  |  --gguf f16|q8_0|q4_0
    python -m studio data check FILE
    python -m studio runs
    python -m studio serve --model embedded|RUN|exports/NAME [--host 127.0.0.1] [--port 8000] [--api-key KEY]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from studio import cli_experiments
from studio.config import list_presets
from studio.sampling import DEFAULTS, PRECISION_CHOICES, generation_settings


def main(argv: list[str] | None = None, prog: str = "python -m studio") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        return args.handler(args) or 0
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130


def build_parser(prog: str = "python -m studio") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Tuning Studio: fine-tune a language model on your own data.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="Train a run (prints a progress line per logging step).")
    add_config_arguments(train)
    train.add_argument("--output", help="Run folder to write.")
    train.add_argument("--resume", action="store_true", help="Continue the run in --output (or --config's) from its last checkpoint.")
    train.set_defaults(handler=command_train)
    add_queue_commands(commands)
    cli_experiments.add_commands(commands, train_queue=command_queue_run)

    generate = commands.add_parser("generate", help="Answer one prompt.")
    _add_model_arguments(generate)
    generate.add_argument("--prompt", required=True)
    generate.add_argument("--system", default="", help="System prompt.")
    generate.add_argument("--temperature", type=float, default=DEFAULTS.temperature,
                          help="0 = greedy (repeatable); higher = more varied.")
    generate.add_argument("--top-p", type=float, default=DEFAULTS.top_p)
    generate.add_argument("--top-k", type=int, default=DEFAULTS.top_k)
    generate.add_argument("--max-new-tokens", type=int, default=DEFAULTS.max_new_tokens)
    generate.add_argument("--repetition-penalty", type=float, default=DEFAULTS.repetition_penalty)
    generate.add_argument("--seed", type=int, default=DEFAULTS.seed)
    generate.add_argument("--precision", default="auto", choices=PRECISION_CHOICES,
                          help="The weights while answering: fp32 as trained, bf16, int8 or int4 (weight-only; smaller "
                               "and faster on a CPU); auto = fp32 on a CPU, bf16 on a GPU. Prints the cost after.")
    generate.set_defaults(handler=command_generate)

    evaluate = commands.add_parser("eval", help="Score greedy answers on held-out rows (preference pairs: which answer "
                                                "the model prefers); prints JSON metrics.")
    _add_model_arguments(evaluate)
    evaluate.add_argument("--dataset", required=True)
    evaluate.add_argument("--limit", type=int, default=0, help="Only the first N rows (0 = all).")
    evaluate.add_argument("--max-new-tokens", type=int, default=None)
    evaluate.add_argument("--details", action="store_true", help="Include every row's prompt, reference and answer.")
    evaluate.set_defaults(handler=command_eval)

    export = commands.add_parser("export", help="Copy a run's adapter, or merge it into a full model.")
    export.add_argument("--run", required=True)
    export.add_argument("--output", help="Folder to write (the adapter, or with --merge the merged model).")
    export.add_argument("--merge", action="store_true", help="Merge the adapter into the base weights.")
    export.add_argument("--gguf", choices=("f16", "q8_0", "q4_0", "f32"),
                        help="Instead: one GGUF file for llama.cpp and Ollama (adapter merged), with its Modelfile, "
                             "in the workspace's exports/.")
    export.set_defaults(handler=command_export)

    data_command = commands.add_parser("data", help="Dataset tools.")
    data_commands = data_command.add_subparsers(dest="data_command", required=True)
    check = data_commands.add_parser("check", help="Shape, rows, token lengths; exit 1 with row-level errors.")
    check.add_argument("file")
    check.add_argument("--base", default=None, help="Count tokens with this model's tokenizer (default: embedded).")
    check.add_argument("--cutoff-length", type=int, default=512)
    check.add_argument("--no-tokens", action="store_true", help="Skip token counts (no model load).")
    check.set_defaults(handler=command_data_check)

    runs = commands.add_parser("runs", help="List runs in the workspace.")
    runs.set_defaults(handler=command_runs)
    add_serve_command(commands)
    return parser


def add_serve_command(commands) -> None:
    serve = commands.add_parser("serve", help="Answer OpenAI-style chat requests with a model "
                                              "(GET /v1/models, POST /v1/chat/completions).")
    serve.add_argument("--model", required=True, help="embedded, a run name, or exports/NAME (a merged model).")
    serve.add_argument("--host", default="127.0.0.1", help="Address to listen on (default: this machine only; "
                                                           "any other needs --api-key).")
    serve.add_argument("--port", type=int, default=8000, help="Port (default 8000).")
    serve.add_argument("--precision", default="auto", choices=PRECISION_CHOICES,
                       help="The weights while answering: fp32, bf16, int8 or int4 (auto: fp32 on a CPU, bf16 on a GPU).")
    serve.add_argument("--api-key", default=None, metavar="KEY",
                       help="Require this key (Authorization: Bearer KEY); default: $STUDIO_API_KEY.")
    serve.set_defaults(handler=command_serve)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """A run's settings: a preset or a config.yaml, the data, and settings over them (train, queue add)."""
    parser.add_argument("--preset", help=f"A preset name ({', '.join(list_presets())}) or a YAML path.")
    parser.add_argument("--config", help="A full config.yaml, e.g. a run folder's (same as --preset).")
    parser.add_argument("--dataset", help="Training data file.")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="Override a setting; repeatable.")


def add_queue_commands(commands) -> None:
    queue = commands.add_parser("queue", help="Runs that train one after another: add, list, remove, run.")
    verbs = queue.add_subparsers(dest="queue_command", required=True)
    add = verbs.add_parser("add", help="Put a run last in the queue (an open app, or `queue run`, starts it).")
    add_config_arguments(add)
    add.add_argument("--name", default="", help="The run's name: its folder under runs/ (default: date, method, data).")
    add.set_defaults(handler=command_queue_add)
    verbs.add_parser("list", help="The running job, then the queued runs in order.").set_defaults(
        handler=command_queue_list)
    remove = verbs.add_parser("remove", help="Take a run that has not started out of the queue (its folder goes).")
    remove.add_argument("name")
    remove.set_defaults(handler=command_queue_remove)
    run = verbs.add_parser("run", help="Train the queued runs one after another until the queue is empty; Ctrl-C "
                                       "stops waiting and leaves the running job alone.")
    run.set_defaults(handler=command_queue_run)


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", default=None, help="Base model (default: the run's base, else the embedded model).")
    parser.add_argument("--adapter", default=None, help="A run folder, or its adapter/ or model/ folder.")


def command_train(args) -> int:
    """Train; a config with num_processes above 1 run outside a launcher starts itself again under
    `accelerate launch`, whose first process prints the result."""
    from pathlib import Path

    from studio.config import load_config, parse_overrides
    from studio import runs
    from studio.runs import MANAGED_ENV
    from studio.training import run_training
    from studio.training.common import is_main_process, world_size

    overrides = parse_overrides(args.set)
    if args.dataset:
        overrides["dataset"] = args.dataset
    if args.output:
        overrides["output_dir"] = args.output
    preset = args.config or args.preset
    if args.resume and not preset and args.output:
        preset = str(Path(args.output) / runs.CONFIG)
    config = load_config(preset, overrides)
    if config.num_processes > 1 and "WORLD_SIZE" not in os.environ:
        return launch_training(args, config)
    managed = bool(os.environ.get(MANAGED_ENV))
    if managed:
        # The app shows the log: progress bars drawn for a terminal are noise in a file.
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    summary = run_training(config, resume=args.resume)
    if is_main_process():
        # The app's log ends with a line a person reads; the command line's output ends with JSON a script reads.
        print(summary_line(summary) if managed else json.dumps({"run": config.output_dir, **summary}, indent=2))
    if summary["status"] == "aborted" and world_size() > 1:
        return 0  # the launcher reports any other exit as a crash, over the summary's "aborted"
    return 0 if summary["status"] == "finished" else 2


def launch_training(args, config) -> int:
    """This train command again, under `accelerate launch` with the config's processes; its exit status. The run
    folder is named here, once, where each process would name its own by the clock."""
    import subprocess

    from studio.jobs import check_processes, launch_command
    from studio.runs import new_run_dir

    check_processes(config.num_processes)
    output = config.output_dir or str(new_run_dir(config))
    arguments = ["train", *(["--preset", args.preset] if args.preset else []),
                 *(["--config", args.config] if args.config else []),
                 *(["--dataset", args.dataset] if args.dataset else []), "--output", output,
                 *[part for pair in args.set for part in ("--set", pair)], *(["--resume"] if args.resume else [])]
    return subprocess.call(launch_command(config.num_processes, arguments))


def summary_line(summary: dict) -> str:
    """'finished in 2:23: train loss 0.4351, validation loss 0.5102, 28,742 tokens at 201 tokens/s'."""
    seconds = int(summary.get("wall_seconds") or 0)
    parts = [f"train loss {summary['train_loss']:.4f}" if summary.get("train_loss") is not None else "",
             f"validation loss {summary['eval_loss']:.4f}" if summary.get("eval_loss") is not None else "",
             f"{summary['trained_tokens']:,} tokens" if summary.get("trained_tokens") else "",
             f"at {summary['tokens_per_second']:,.0f} tokens/s" if summary.get("tokens_per_second") else ""]
    return f"{summary['status']} in {seconds // 60}:{seconds % 60:02d}: " + ", ".join(part for part in parts if part)


def queued_config(args):
    """The settings of `queue add`, with the paths a user typed made absolute: the run starts later, maybe in the
    app, from another folder."""
    from pathlib import Path

    from studio.config import load_config, parse_overrides

    overrides = parse_overrides(args.set)
    if args.dataset:
        overrides["dataset"] = args.dataset
    config = load_config(args.config or args.preset, overrides)
    for name in ("dataset", "validation_dataset", "base_model", "start_from", "reward_model"):
        value = getattr(config, name)
        if value and Path(value).expanduser().exists():
            setattr(config, name, str(Path(value).expanduser().resolve()))
    return config


def command_queue_add(args) -> int:
    from studio.run_queue import enqueue, position

    folder = enqueue(queued_config(args), args.name)
    place = position(folder)
    print(f"queued {folder.name}" + (f" (number {place} in the queue)" if place else ""))
    return 0


def command_queue_list(args) -> int:
    from studio.jobs import JobManager
    from studio.run_queue import queued

    manager = JobManager()
    running = manager.running()
    shown = ([running] if running else []) + [manager.describe(path) for path in queued()]
    for run in shown:
        print(f"{run.name:50} {run.status:9} {run.method:14} {run.dataset}")
    if not shown:
        print("Nothing runs and the queue is empty.")
    return 0


def command_queue_remove(args) -> int:
    from studio.run_queue import remove

    remove(args.name)
    print(f"removed {args.name} from the queue")
    return 0


def command_queue_run(args, poll: float = 1.0) -> int:
    """Start the queued runs one after another (or wait for those an open app starts), a line as each starts and
    ends, until nothing runs and the queue is empty."""
    import time

    from studio.jobs import JobManager
    from studio.run_queue import queued
    from studio.runs import read_summary

    manager = JobManager()
    running = None
    try:
        while True:
            waiting = queued()
            started = manager.advance()
            for path in waiting:
                summary = read_summary(path)
                if path != started and summary.get("status") == "failed":
                    print(f"{path.name}: could not start: {summary.get('error', '')}", flush=True)
            running = manager.running()
            if running is None:
                if not queued():
                    print("The queue is empty.")
                    return 0
                time.sleep(poll)
                continue
            print(f"{running.name}: started ({running.method}, {running.dataset})", flush=True)
            manager.wait(running.path)
            print(f"{running.name}: {run_line(read_summary(running.path))}", flush=True)
    except KeyboardInterrupt:
        name = running.name if running is not None and manager.status(running.path) == "running" else None
        print(f"stopped; {name} goes on training, " if name else "stopped; ", end="", file=sys.stderr)
        print("the queued runs wait for `queue run` again or an open app.", file=sys.stderr)
        return 130


def run_line(summary: dict) -> str:
    """How a run ended: its summary line, or why it failed."""
    if summary.get("status") == "failed":
        return "failed: " + (summary.get("error") or "").splitlines()[0] if summary.get("error") else "failed"
    return summary_line(summary)


def command_generate(args) -> int:
    from studio.generate import load_for_chat, stream_chat

    settings = generation_settings(args.temperature, args.top_p, args.top_k, args.max_new_tokens,
                                   args.repetition_penalty, args.seed)
    model, tokenizer = load_for_chat(args.base, args.adapter, args.precision)
    messages = ([{"role": "system", "content": args.system}] if args.system else []) + [{"role": "user", "content": args.prompt}]
    shown, speed = "", {}
    for text in stream_chat(model, tokenizer, messages, settings, speed=speed):
        sys.stdout.write(text[len(shown):])
        sys.stdout.flush()
        shown = text
    sys.stdout.write("\n")
    if speed:
        rate = f", {speed['tokens_per_second']} tokens/s" if speed["tokens_per_second"] else ""
        print(f"({speed['precision']}: {speed['weight_mb']:,} MB of weights, {speed['tokens']} tokens{rate})",
              file=sys.stderr)
    return 0


def command_eval(args) -> int:
    from studio import data
    from studio.evaluate import evaluate_rows
    from studio.generate import load_for_chat

    dataset = data.load_dataset(args.dataset)
    rows = dataset.rows[: args.limit] if args.limit else dataset.rows
    model, tokenizer = load_for_chat(args.base, args.adapter)
    if dataset.shape == "preference":
        from studio.preference_eval import evaluate_pairs

        result = evaluate_pairs(model, tokenizer, rows, max_new_tokens=args.max_new_tokens)
    else:
        result = evaluate_rows(model, tokenizer, rows, dataset.shape, args.max_new_tokens)
    if not args.details:
        result.pop("details")
    print(json.dumps({"model": args.adapter or args.base or "embedded", **result}, indent=2, ensure_ascii=False))
    return 0


def command_export(args) -> int:
    from studio.export import export_run

    if args.gguf:
        from studio.gguf_export import export_run_gguf

        written = export_run_gguf(args.run, args.gguf)
        print(f"Wrote {written['gguf']} and its Modelfile. Run it with:")
        for command in written["commands"]:
            print(f"  {command}")
        return 0
    if not args.output:
        raise ValueError("Name the folder to write with --output (or ask for --gguf).")
    folder = export_run(args.run, args.output, args.merge)
    print(f"Wrote {folder}")
    return 0


def command_data_check(args) -> int:
    from studio import data

    tokenizer = None
    if not args.no_tokens:
        from studio.models import load_tokenizer, resolve_source

        tokenizer = load_tokenizer(resolve_source(args.base or "embedded"))
    report = data.check_file(args.file, tokenizer, args.cutoff_length)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0 if report["ok"] else 1


def command_serve(args) -> int:
    from studio.serve import KEY_ENV, run_server

    return run_server(args.model, args.host, args.port, args.api_key or os.environ.get(KEY_ENV) or None,
                      args.precision)


def command_runs(args) -> int:
    from studio.jobs import JobManager

    for run in JobManager().list_runs():
        losses = " ".join(f"{key} {value:.4f}" for key, value in (("loss", run.train_loss), ("eval", run.eval_loss)) if value is not None)
        print(f"{run.name:50} {run.status:9} {run.method:14} {run.dataset:24} {losses}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
