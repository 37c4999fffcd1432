"""The command line's comparisons and reports (`python -m studio experiment`, `python -m studio report`).

    python -m studio experiment reviews-methods --dataset presets/samples/reviews-train.jsonl \
        --methods lora,dora,ia3 --heldout presets/samples/reviews-test.jsonl --run
    python -m studio experiment lr --dataset data.jsonl --vary learning_rate --values 1e-4,5e-4,2e-3
    python -m studio report RUN                      # one run's report
    python -m studio report --experiment reviews-methods [--language zh]
    python -m studio report --runs RUN,RUN,RUN       # finished runs side by side

The experiment is queued like the Methods tab's (studio.experiments); `--run` then trains the queue here, as
`python -m studio queue run` does, and prints the table and its reading.
"""

from __future__ import annotations

import os
from pathlib import Path

TABLE_COLUMNS = ("label", "status", "trainable_parameters", "peak_memory_mb", "minutes", "tokens_per_second",
                 "eval_loss", "heldout_base", "heldout_tuned", "saved_mb")


def add_commands(commands, train_queue) -> None:
    """The `experiment` and `report` verbs, on the parser of `python -m studio`; `train_queue(args)` is `queue
    run`'s command, which `experiment --run` calls."""
    experiment = commands.add_parser(
        "experiment", help="Queue one run per method (or per value of one setting) on the same data, split, seed "
                           "and number of steps; --run trains them here and prints the comparison.")
    experiment.add_argument("name", help="The comparison's name; its runs are named NAME-VALUE.")
    experiment.add_argument("--dataset", required=True, help="Training data file or workspace dataset.")
    experiment.add_argument("--preset", default="cpu-lora", help="The settings every run starts from.")
    experiment.add_argument("--methods", default="", help="Methods to compare, comma separated (lora,dora,ia3).")
    experiment.add_argument("--vary", default="", metavar="SETTING", help="Instead: one setting to vary.")
    experiment.add_argument("--values", default="", help="That setting's values, comma separated.")
    experiment.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                            help="A setting for every run; repeatable.")
    experiment.add_argument("--heldout", default="validation",
                            help="Rows answered after each run: 'validation' (the runs' own), a dataset, or 'none'.")
    experiment.add_argument("--heldout-rows", type=int, default=40)
    experiment.add_argument("--run", action="store_true", help="Train the queue now and print the comparison.")
    experiment.set_defaults(handler=command_experiment, train_queue=train_queue)

    report = commands.add_parser("report", help="Write one self-contained HTML report of a run or a comparison.")
    report.add_argument("run", nargs="?", default="", help="A run's name or folder.")
    report.add_argument("--experiment", default="", help="A comparison queued with `experiment` or the Methods tab.")
    report.add_argument("--runs", default="", help="Finished runs side by side, comma separated.")
    report.add_argument("--language", default="en", choices=("en", "zh"))
    report.set_defaults(handler=command_report)


def command_experiment(args) -> int:
    from studio.config import parse_overrides
    from studio.experiments import queue_experiment

    if bool(args.methods) == bool(args.vary):
        raise ValueError("Give --methods, or --vary SETTING with --values.")
    variable, values = ("method", args.methods) if args.methods else (args.vary, args.values)
    dataset, heldout = own_file(args.dataset), "" if args.heldout == "none" else own_file(args.heldout)
    overrides = own_paths(parse_overrides(args.set))
    allow_folders_of(dataset, heldout, *(overrides.get(name, "") for name in PATH_SETTINGS))
    record = queue_experiment(args.name, dataset, args.preset, variable, split_values(values),
                              overrides, heldout=heldout, heldout_rows=args.heldout_rows)
    steps = f", {record['max_steps']} steps each" if record.get("max_steps") else ""
    print(f"queued {len(record['runs'])} runs{steps}: {', '.join(record['runs'])}", flush=True)
    if not args.run:
        print("An open app trains them one after another, or: python -m studio queue run")
        return 0
    code = args.train_queue(args)
    if code == 0:
        print_comparison(record["runs"])
    return code


def split_values(text: str) -> list[str]:
    values = [value.strip() for value in str(text).split(",") if value.strip()]
    if not values:
        raise ValueError("No values to compare: give them comma separated.")
    return values


def own_file(path: str) -> str:
    """A file the user typed, absolute (the runs start later, maybe from another folder); a workspace dataset's
    name or 'validation' as it is."""
    candidate = Path(path).expanduser()
    return str(candidate.resolve()) if path and path != "validation" and candidate.is_file() else path


# Settings that name a file or folder of the user's: a model folder or .gguf file, a run to start from, data.
PATH_SETTINGS = ("base_model", "start_from", "reward_model", "validation_dataset")


def own_paths(overrides: dict) -> dict:
    """The `--set` values that name an existing file or folder, made absolute: the runs train later, in jobs of
    their own, maybe started by the app from another folder."""
    return {name: str(Path(value).expanduser().resolve())
            if name in PATH_SETTINGS and value and Path(value).expanduser().exists() else value
            for name, value in overrides.items()}


def allow_folders_of(*paths: str) -> None:
    """The command line opens the user's own files and folders: a file's folder, or the folder itself, joins the
    folders the checks allow."""
    from studio.access import ALLOW_PATHS_ENV

    folders = [str(Path(path).expanduser().resolve().parent if Path(path).expanduser().is_file()
                   else Path(path).expanduser().resolve())
               for path in paths if path and path != "validation" and Path(path).expanduser().exists()]
    if folders:
        current = [item for item in os.environ.get(ALLOW_PATHS_ENV, "").split(os.pathsep) if item]
        os.environ[ALLOW_PATHS_ENV] = os.pathsep.join(current + folders)


def print_comparison(runs: list) -> None:
    """The comparison table and its reading, as the Methods tab shows them."""
    from studio.experiments import comparison_rows, reading

    rows = comparison_rows(runs)
    metric = next((row["heldout_metric"] for row in rows if row["heldout_metric"]), None)
    header = [*TABLE_COLUMNS]
    if metric:
        header[header.index("heldout_base")] = f"{metric} before"
        header[header.index("heldout_tuned")] = f"{metric} after"
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(cell(row[column]) for column in TABLE_COLUMNS))
    for sentence in reading(rows):
        print(f"- {sentence}")


def cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def command_report(args) -> int:
    from studio.report import experiment_report, run_report

    chosen = [bool(args.run), bool(args.experiment), bool(args.runs)]
    if sum(chosen) != 1:
        raise ValueError("Name one run, or --experiment NAME, or --runs RUN,RUN.")
    if args.run:
        path = run_report(args.run, args.language)
    elif args.experiment:
        path = experiment_report(name=args.experiment, language=args.language)
    else:
        path = experiment_report(runs=split_values(args.runs), language=args.language)
    print(path)
    return 0
