"""Compare a run with its base model: side by side, temperature grid, batch before/after, general knowledge.

    result = batch_compare("demo", "presets/samples/reviews-test.jsonl", limit=20)
    csv_path, markdown_path = write_report(result)   # and the result as JSON beside them: stored_results(run_dir)
    general_check("demo")["drift"]    # 0 = answers as the base gave them, 1 = nothing in common
    save_general_check(check)          # comparisons/general-knowledge.json: stored_general_check(run_dir)

The batch numbers are `evaluate_rows`' steps on the same rows and batches for each side, so they
equal `python -m studio eval` (with and without --adapter); `stream_batch_compare` and
`stream_general_check` give the results as the answers come in, for a progress line and tables that
fill in. Blind votes and the data they make are `studio.votes`. With a reward model run chosen
(`reward`), batch compare scores every answer with it: a score per row and side, and their mean.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import datetime
from itertools import zip_longest
from pathlib import Path
from typing import Iterator

from studio import runs
from studio.config import EMBEDDED_MODEL, check_range
from studio.metrics import ANSWER_METRICS
from studio.workspace import atomic_write_json, atomic_write_text, safe_name

SIDES = ("base", "tuned")
REPORTS = runs.COMPARISONS
VALIDATION = "validation"  # the dataset choice meaning the run's own held-out rows
HELDOUT = "heldout"  # the stem of the held-out evaluation's files, written after training
GENERAL_FILE = "general-knowledge.json"  # the last general-knowledge check
METRICS = (*ANSWER_METRICS, "perplexity")
LOWER_IS_BETTER = {"perplexity"}
SHORT_ANSWER_WORDS = 4  # references this short are scored by exact match, longer ones by ROUGE-L
ROW_COLUMNS = ("row", "prompt", "reference", "base", "tuned",
               *(f"{side}_{metric}" for metric in ANSWER_METRICS for side in SIDES))
# Everyday questions outside any fine-tuning set: if their answers move a lot, tuning made the model forget.
GENERAL_PROMPTS = (
    "What is the capital of France?",
    "Explain in two sentences why the sky is blue.",
    "What is 12 multiplied by 7?",
    "Name three primary colours.",
    "Write one friendly sentence declining a meeting invitation.",
    "中国的首都是哪里？",
    "用一句话解释什么是光合作用。",
    "请列出三种常见的水果。",
)


MAX_ANSWER_TOKENS = 1024  # the longest answer batch compare and the knowledge check ask for
MAX_BATCH_ROWS = 10_000


def run_folder(run: str | Path) -> Path:
    """A finished run's folder from its name in runs/ (or its path)."""
    from studio.access import client_run

    if not run:
        raise ValueError("Pick a finished run first.")
    path = client_run(run)
    runs.trained_weights(path)
    return path


def compared_run(run: str | Path) -> Path:
    """run_folder for the compare tools: with no run chosen, says what to choose it for."""
    if not run:
        raise ValueError("Pick a finished run to compare with its base model (train one in the Train tab if there "
                         "is none).")
    return run_folder(run)


def base_of(run_dir: Path) -> str:
    return runs.base_model(run_dir) or EMBEDDED_MODEL


# ---------------------------------------------------------------- side by side and temperature grid


def stream_side_by_side(run: str | Path, messages: list[dict], settings, stop=None, left: str = "base",
                        precisions: tuple[str, str] = ("auto", "auto"),
                        speeds: list | None = None) -> Iterator[tuple[str, str]]:
    """(left answer so far, right answer so far), both with the same settings and seed: the base (or, with
    `left="tuned"`, the tuned model again) and the tuned model, at these precisions (studio.pairs.stream_pair)."""
    from studio.pairs import stream_pair
    from studio.sampling import check_precision

    if not messages or not messages[-1]["content"].strip():
        raise ValueError("Type a prompt first.")
    precisions = tuple(check_precision(value) for value in precisions)
    yield from stream_pair(compared_run(run), messages, settings, stop, precisions, left, speeds)


def grid_temperatures(values) -> list[float]:
    """The grid's temperatures: the filled-in values, each once, in the order given."""
    temperatures = list(dict.fromkeys(float(value) for value in values if value is not None))
    if not temperatures:
        raise ValueError("Give at least one temperature for the grid.")
    if any(not 0 <= value <= 2 for value in temperatures):
        raise ValueError("Grid temperatures go from 0 (greedy) to 2.")
    return temperatures


def stream_grid(run: str | Path, messages: list[dict], settings, temperatures, stop=None) -> Iterator[list[list]]:
    """Table rows [temperature, base answer, tuned answer], filled in as the answers stream."""
    temperatures = grid_temperatures(temperatures)
    rows = [[temperature, "", ""] for temperature in temperatures]
    for index, temperature in enumerate(temperatures):
        for base_text, tuned_text in stream_side_by_side(run, messages, replace(settings, temperature=temperature), stop):
            rows[index][1:] = [base_text, tuned_text]
            yield [list(row) for row in rows]
        if stop is not None and stop.is_set():
            return


def score_grid(reward_dir: Path, messages: list[dict], rows: list[list]) -> list[list]:
    """The grid's rows with the reward model's score of each answer: [temperature, base, tuned, base score,
    tuned score], every answer scored in one batch."""
    from studio.reward_scores import scores

    given = scores(reward_dir, [messages] * 2 * len(rows), [row[1] for row in rows] + [row[2] for row in rows])
    return [[*row[:3], given[index], given[len(rows) + index]] for index, row in enumerate(rows)]


# ---------------------------------------------------------------- batch before/after


def evaluation_rows(run_dir: Path, dataset: str) -> tuple[list[dict], str, str]:
    """(rows, shape, name) of a dataset file, or of the run's validation split."""
    from studio import data
    from studio.runs import load_run_config
    from studio.access import client_dataset
    from studio.examples import prepare_rows

    if dataset == VALIDATION:
        shape, _, rows = prepare_rows(load_run_config(run_dir))
        if not rows:
            raise ValueError("This run kept no validation rows (validation share 0); pick a test file instead.")
        return rows, shape, f"{run_dir.name}-validation"
    if not dataset:
        raise ValueError("Pick a dataset to compare on.")
    loaded = data.load_dataset(client_dataset(dataset))
    return loaded.rows, loaded.shape, Path(loaded.source).stem


def stream_batch_compare(run: str | Path, dataset: str, limit: int = 0, max_new_tokens: int | None = None,
                         batch_size: int = 8, reward: str | Path | None = None) -> Iterator[dict]:
    """batch_compare as it goes: after each batch of rows one model answered, the result so far (each side's
    "details" only, "progress" = (answers given, answers to give)); with a reward model run, once more after
    it scored the batch; last, the whole result."""
    from studio.reward_scores import reward_run

    check_range("limit", limit or 0, 0, MAX_BATCH_ROWS)
    check_range("max_new_tokens", max_new_tokens or 1, 1, MAX_ANSWER_TOKENS)
    run_dir = compared_run(run)
    reward_dir = reward_run(reward)
    rows, shape, name = evaluation_rows(run_dir, dataset)
    rows = rows[:int(limit)] if limit else rows
    yield from stream_rows_compare(run_dir, rows, shape, name, max_new_tokens, batch_size, reward_dir)


def stream_rows_compare(run_dir: Path, rows: list[dict], shape: str, name: str, max_new_tokens: int | None = None,
                        batch_size: int = 8, reward_dir: Path | None = None) -> Iterator[dict]:
    """stream_batch_compare on rows already read, for a run folder already resolved (the training process's
    held-out evaluation after a run uses it directly)."""
    from studio.evaluate import answer_rows, evaluation_prompts, perplexity, summarize
    from studio.generate import cached_model, generation_lock
    from studio.reward_scores import mean

    models = dict(zip(SIDES, (cached_model(base_of(run_dir)), cached_model(None, run_dir))))
    prompts = {side: evaluation_prompts(tokenizer, rows, shape, max_new_tokens or None)
               for side, (_, tokenizer) in models.items()}
    details = {side: [] for side in SIDES}

    def so_far() -> dict:
        done = sum(len(answers) for answers in details.values())
        return {"run": run_dir.name, "dataset": name, "progress": (done, len(SIDES) * len(rows)),
                **{side: {"details": list(answers)} for side, answers in details.items()}}

    # Batch by batch, base then tuned, so each row fills in whole; the batches are the ones evaluate_rows
    # makes, so the answers are the same as `python -m studio eval`'s.
    for start in range(0, len(rows), batch_size):
        for side, (model, tokenizer) in models.items():
            conversations, references, most = prompts[side]
            # The models are shared with the chat: take turns with it rather than race on the model's state.
            with generation_lock(model):
                details[side] += answer_rows(model, tokenizer, conversations[start:start + batch_size],
                                             references[start:start + batch_size], most, batch_size)
            yield so_far()
        if reward_dir is not None:
            score_rows(reward_dir, prompts["base"][0][start:start + batch_size], details, start)
            yield so_far()
    result = so_far()
    for side, (model, tokenizer) in models.items():
        with generation_lock(model):
            result[side] = summarize(details[side], perplexity(model, tokenizer, rows, shape), prompts[side][2])
        if reward_dir is not None:
            result[side]["reward"] = mean([row["reward"] for row in details[side]])
    yield result


def score_rows(reward_dir: Path, conversations: list, details: dict, start: int) -> None:
    """Both sides' answers to these rows (from `start`) scored by the reward model, in one batch: each row's
    details get its "reward" (as new dicts: the results yielded before stay as they were)."""
    from studio.reward_scores import scores

    end = start + len(conversations)
    given = scores(reward_dir, list(conversations) * len(SIDES),
                   [row["prediction"] for side in SIDES for row in details[side][start:end]])
    for index, side in enumerate(SIDES):
        part = given[index * len(conversations):(index + 1) * len(conversations)]
        details[side][start:end] = [{**row, "reward": score} for row, score in zip(details[side][start:end], part)]


def batch_compare(run: str | Path, dataset: str, limit: int = 0, max_new_tokens: int | None = None,
                  reward: str | Path | None = None) -> dict:
    """Greedy answers of base and tuned on the same rows, with metrics per row and in total (and the reward
    model's scores, with one chosen)."""
    *_, result = stream_batch_compare(run, dataset, limit, max_new_tokens, reward=reward)
    return result


def headline_metric(result: dict) -> str:
    """Exact match for short answers (labels, numbers), ROUGE-L for longer ones."""
    references = [row["reference"] for row in result["base"]["details"]]
    mean_words = sum(len(reference.split()) for reference in references) / len(references)
    return "exact_match" if mean_words <= SHORT_ANSWER_WORDS else "rouge_l"


def comparison_rows(result: dict) -> list[dict]:
    """One row per dataset row: prompt, reference, both answers and their scores (and reward scores, once the
    reward model gave any). While a batch compare runs, a row not answered or scored yet has None there."""
    rows, scored = [], any("reward" in row for row in result["base"]["details"])
    for number, (base, tuned) in enumerate(zip_longest(result["base"]["details"], result["tuned"]["details"],
                                                       fillvalue={}), start=1):
        rows.append({"row": number, "prompt": base["prompt"], "reference": base["reference"],
                     "base": base["prediction"], "tuned": tuned.get("prediction"),
                     **{f"{side}_{metric}": round(values[metric], 4) if metric in values else None
                        for metric in ANSWER_METRICS for side, values in zip(SIDES, (base, tuned))},
                     **({f"{side}_reward": values.get("reward") for side, values in zip(SIDES, (base, tuned))}
                        if scored else {})})
    return rows


def totals(result: dict) -> list[dict]:
    """One row per metric (and the reward model's mean score, when scored): base, tuned, and the change
    (positive = better, whichever way the metric runs)."""
    rows = []
    for metric in (*METRICS, *(("reward",) if "reward" in result["base"] else ())):
        base, tuned = result["base"][metric], result["tuned"][metric]
        change = (base - tuned) if metric in LOWER_IS_BETTER else (tuned - base)
        rows.append({"metric": metric, "base": base, "tuned": tuned, "change": round(change, 4)})
    return rows


def to_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def markdown_table(rows: list[dict]) -> str:
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\r", "").replace("\n", "<br>")

    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(row[key]) for key in header) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(result: dict) -> str:
    return (f"# {result['run']} vs its base on {result['dataset']} ({result['base']['rows']} rows)\n\n"
            f"Greedy answers, at most {result['base']['max_new_tokens']} new tokens.\n\n"
            f"{markdown_table(totals(result))}\n\n## Per row\n\n{markdown_table(comparison_rows(result))}\n")


def write_report(result: dict, run_dir: Path | None = None, stem: str = "") -> tuple[Path, Path]:
    """The per-row table as CSV, and totals plus rows as Markdown, in the run's comparisons/ folder, with the whole
    result beside them as JSON (`stored_results` reads it back). `run_dir`: the run folder where the caller resolved
    it already; `stem`: the files' name (default: the dataset and the row count)."""
    folder = (Path(run_dir) if run_dir else run_folder(result["run"])) / REPORTS
    stem = stem or safe_name(f"{result['dataset']}-{result['base']['rows']}-rows")
    csv_path = atomic_write_text(folder / f"{stem}.csv", to_csv(comparison_rows(result)))
    stored = {"kind": "batch", "saved": datetime.now().isoformat(timespec="seconds"),
              "headline": headline_metric(result), **result}
    atomic_write_json(folder / f"{stem}.json", stored)
    return csv_path, atomic_write_text(folder / f"{stem}.md", to_markdown(result))


def stored_results(run_dir: Path) -> list[dict]:
    """The batch compare results stored in the run's comparisons/ folder, newest first, each with its "file"."""
    found = [(path, runs.read_json(path)) for path in (Path(run_dir) / REPORTS).glob("*.json")]
    results = [{**stored, "file": path.name} for path, stored in found
               if stored and stored.get("kind") == "batch" and isinstance(stored.get("base"), dict)]
    return sorted(results, key=lambda stored: (str(stored.get("saved")), stored["file"]), reverse=True)


def stored_heldout(run_dir: Path) -> dict | None:
    """The held-out evaluation stored after training (RunConfig.heldout), or None."""
    stored = runs.read_json(Path(run_dir) / REPORTS / f"{HELDOUT}.json")
    return stored if stored and stored.get("kind") == "batch" else None


# ---------------------------------------------------------------- general knowledge


def drift(base_answers: list[str], tuned_answers: list[str]) -> tuple[list[float], float]:
    """(ROUGE-L of each tuned answer against the base's, 1 - their mean): how far the answers moved."""
    from studio.evaluate import rouge_l

    similarities = [round(rouge_l(tuned, base), 4) for base, tuned in zip(base_answers, tuned_answers)]
    return similarities, round(1 - sum(similarities) / len(similarities), 4) if similarities else 0.0


def stream_general_check(run: str | Path, max_new_tokens: int = 64, prompts=GENERAL_PROMPTS) -> Iterator[dict]:
    """general_check as it goes: the rows with the base's answers in ("progress" = (answers given, answers to
    give)), then the whole check with the tuned answers, similarities and drift."""
    from studio.generate import cached_model, generate_batch, generation_lock

    check_range("max_new_tokens", max_new_tokens, 1, MAX_ANSWER_TOKENS)
    run_dir = compared_run(run)
    conversations = [[{"role": "user", "content": prompt}] for prompt in prompts]
    answers = {side: [""] * len(prompts) for side in SIDES}

    def answer(side: str, model_and_tokenizer) -> None:
        model, tokenizer = model_and_tokenizer
        with generation_lock(model):
            answers[side] = generate_batch(model, tokenizer, conversations, int(max_new_tokens))

    def check(similarities: list, moved: float | None, given: int) -> dict:
        rows = [{"prompt": prompt, "base": base, "tuned": tuned, "similarity": similarity}
                for prompt, base, tuned, similarity in zip(prompts, answers["base"], answers["tuned"], similarities)]
        return {"run": run_dir.name, "rows": rows, "drift": moved, "progress": (given, len(SIDES) * len(prompts))}

    answer("base", cached_model(base_of(run_dir)))
    yield check([None] * len(prompts), None, len(prompts))
    answer("tuned", cached_model(None, run_dir))
    yield check(*drift(answers["base"], answers["tuned"]), len(SIDES) * len(prompts))


def general_check(run: str | Path, max_new_tokens: int = 64, prompts=GENERAL_PROMPTS) -> dict:
    """Base and tuned answer everyday prompts greedily; the drift says how much tuning changed them."""
    *_, result = stream_general_check(run, max_new_tokens, prompts)
    return result


def save_general_check(result: dict, run_dir: Path | None = None) -> Path:
    """The general-knowledge check's result as JSON in the run's comparisons/ folder (`stored_general_check`)."""
    folder = (Path(run_dir) if run_dir else run_folder(result["run"])) / REPORTS
    stored = {"kind": "general", "saved": datetime.now().isoformat(timespec="seconds"), **result}
    return atomic_write_json(folder / GENERAL_FILE, stored)


def stored_general_check(run_dir: Path) -> dict | None:
    """The last general-knowledge check stored for the run, or None."""
    stored = runs.read_json(Path(run_dir) / REPORTS / GENERAL_FILE)
    return stored if stored and stored.get("kind") == "general" else None
