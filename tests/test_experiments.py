"""Experiments: runs that differ in one setting, queued on the same data, split, seed and step budget (a value
that cannot run queues nothing), then read side by side with numbers equal to each run's own files."""

from __future__ import annotations

import json

import pytest

from studio import compare, experiments, run_queue, runs
from studio.events import loss_points, read_events
from studio.workspace import runs_dir
from tests.conftest import method_config, write_jsonl

REVIEWS = [{"instruction": "classify the review as positive or negative", "input": text, "output": label}
           for text, label in [("great food and friendly staff", "positive"),
                               ("terrible service and cold soup", "negative")] * 6]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir):
    """Two finished tiny runs of the same data, lora and ia3, each evaluated on its 3 validation rows after
    training; (workspace, [run folders])."""
    from studio.training import run_training

    root = tmp_path_factory.mktemp("experiment-workspace")
    dataset = write_jsonl(tmp_path_factory.mktemp("experiment-data") / "reviews.jsonl", REVIEWS)
    folders = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDIO_WORKSPACE", str(root))
        for method in ("lora", "ia3"):
            config = method_config(tiny_model_dir, dataset, root / "runs", method, max_steps=3, eval_steps=3,
                                   save_steps=3, learning_rate=1e-2, batch_size=4, validation_split=0.25, heldout="validation",
                                   heldout_rows=3, probe_max_new_tokens=2)
            assert run_training(config)["status"] == "finished"
            folders.append(root / "runs" / method)
    return root, folders


@pytest.fixture
def trained_runs(trained, monkeypatch):
    root, folders = trained
    monkeypatch.setenv("STUDIO_WORKSPACE", str(root))
    return folders


def test_the_table_holds_each_runs_own_numbers(trained_runs):
    rows = experiments.comparison_rows(trained_runs)
    assert [row["label"] for row in rows] == ["lora", "ia3"] and [row["run"] for row in rows] == ["lora", "ia3"]
    for row, folder in zip(rows, trained_runs):
        summary = runs.read_summary(folder)
        stored = json.loads((folder / compare.REPORTS / "heldout.json").read_text(encoding="utf-8"))
        metric = stored["headline"]
        assert row["status"] == "finished" and row["method"] == folder.name
        assert row["trainable_parameters"] == summary["trainable_parameters"] > 0
        assert row["peak_memory_mb"] == summary["peak_memory_mb"] > 0
        assert row["minutes"] == summary["wall_seconds"] / 60
        assert row["tokens_per_second"] == summary["tokens_per_second"]
        assert row["eval_loss"] == summary["eval_loss"]
        assert row["heldout_metric"] == metric == summary["heldout"]["metric"]
        assert row["heldout_base"] == stored["base"][metric] == summary["heldout"]["base"]
        assert row["heldout_tuned"] == stored["tuned"][metric] == summary["heldout"]["tuned"]
        assert stored["base"]["rows"] == 3 and row["heldout_error"] is None
        weights = folder / runs.ADAPTER
        assert row["saved_mb"] == round(sum(path.stat().st_size for path in weights.rglob("*") if path.is_file())
                                        / 2**20, 3)
    assert rows[1]["trainable_parameters"] < rows[0]["trainable_parameters"]  # ia3 trains fewer weights than lora


def test_curves_overlay_each_runs_logged_losses(trained_runs):
    found = experiments.curves(trained_runs)
    assert list(found) == ["lora", "ia3"]
    for folder, label in zip(trained_runs, found):
        points = loss_points(read_events(folder))
        assert found[label]["loss"] == [(point["step"], point["loss"]) for point in points if point["series"] == "loss"]
        assert found[label]["eval_loss"] and found[label]["eval_loss"][-1][0] == 3


def test_the_reading_is_written_from_the_numbers(trained_runs):
    rows = experiments.comparison_rows(trained_runs)
    english = " ".join(experiments.reading(rows, "en"))
    smaller = min(rows, key=lambda row: row["saved_mb"])
    assert f"{smaller['label']} saved the smallest file" in english
    for field, words in (("minutes", "trained fastest"), ("peak_memory_mb", "used the least memory"),
                         ("eval_loss", "reached the lowest validation loss")):
        assert (words in english) == (rows[0][field] != rows[1][field])
    chinese = " ".join(experiments.reading(rows, "zh"))
    assert "保存的文件最小" in chinese and "saved" not in chinese


def test_the_reading_claims_only_what_the_numbers_support():
    rows = [
        {"label": "lora", "status": "finished", "heldout_metric": "exact_match", "heldout_base": 0.3,
         "heldout_tuned": 0.65, "minutes": 2.0, "saved_mb": 2.5, "peak_memory_mb": 900.0, "eval_loss": 1.2},
        {"label": "dora", "status": "finished", "heldout_metric": "exact_match", "heldout_base": 0.3,
         "heldout_tuned": 0.6, "minutes": 1.0, "saved_mb": 2.6, "peak_memory_mb": None, "eval_loss": None},
        {"label": "ia3", "status": "queued"},
        {"label": "full", "status": "failed", "heldout_error": None},
    ]
    sentences = experiments.reading(rows, "en")
    assert sentences[0] == "lora learned most: held-out exact match 0.30 → 0.65."
    assert "dora gained most per minute of training: exact match +0.30 a minute." in sentences
    assert "lora saved the smallest file (2.50 MB); dora the largest (2.60 MB)." in sentences
    assert "dora trained fastest (1.00 min); lora took longest (2.00 min)." in sentences
    assert not any("memory" in sentence or "validation loss" in sentence for sentence in sentences)  # one number each
    assert "Still queued: ia3." in sentences and "Failed: full; their numbers are missing." in sentences
    flat = [{**row, "heldout_tuned": row.get("heldout_base")} for row in rows[:2]]
    assert experiments.reading(flat, "en")[0].startswith("No run beat its base on held-out exact match")
    assert experiments.reading([{"label": "a", "status": "finished"}], "zh") == []
    assert experiments.reading(rows, "zh")[0] == "lora 学到的最多：留出集完全匹配 0.30 → 0.65。"


def test_a_value_that_cannot_run_queues_nothing(workspace, tiny_model_dir, tiny_sft_file):
    base = {"base_model": str(tiny_model_dir), "max_steps": 0, "batch_size": 4, "validation_split": 0.25}
    refusals = [
        (("learning_rate", [1e-3, 5.0]), "learning_rate must be a number from"),
        (("method", ["lora", "lorax"]), "method 'lorax' is not one of"),
        (("seed", [1, 2]), "Vary one of"),
        (("method", ["lora"]), "from 2 to"),
        (("method", ["lora", "lora"]), "given twice"),
    ]
    for (variable, values), message in refusals:
        with pytest.raises(ValueError, match=message):
            experiments.queue_experiment("exp", str(tiny_sft_file), "cpu-lora", variable, values, base)
    with pytest.raises(ValueError, match="prompt-tuning cannot train a reward model"):
        experiments.queue_experiment("exp", str(tiny_sft_file), "cpu-rm", "method", ["lora", "prompt-tuning"], base,
                                     heldout="")
    with pytest.raises(ValueError, match="sets dataset"):
        experiments.queue_experiment("exp", str(tiny_sft_file), "cpu-lora", "method", ["lora", "ia3"],
                                     {**base, "dataset": "x.jsonl"})
    assert run_queue.queued() == [] and not runs.run_folders() and experiments.list_experiments() == []


def test_an_experiment_queues_one_run_per_value_on_the_same_data_split_seed_and_budget(workspace, tiny_model_dir,
                                                                                       tiny_sft_file):
    from studio.config import load_config
    from studio.training.plan import plan_run

    overrides = {"base_model": str(tiny_model_dir), "batch_size": 4, "validation_split": 0.25}
    record = experiments.queue_experiment("methods", str(tiny_sft_file), "cpu-lora", "method", ["lora", "ia3", "dora"],
                                          overrides, heldout_rows=5)
    assert record["runs"] == ["methods-lora", "methods-ia3", "methods-dora"] and record["variable"] == "method"
    assert [path.name for path in run_queue.queued()] == record["runs"]
    configs = [runs.load_run_config(runs_dir() / name) for name in record["runs"]]
    planned = plan_run(load_config("cpu-lora", {**overrides, "dataset": str(tiny_sft_file)})).total_steps
    assert record["max_steps"] == planned and {config.max_steps for config in configs} == {planned}
    assert [config.method for config in configs] == ["lora", "ia3", "dora"]
    # Each method at its own rate: ia3 at its preset's, the LoRA family at the chosen preset's.
    assert [config.learning_rate for config in configs] == [2e-3, 5e-3, 2e-3]
    for config in configs:
        assert (config.dataset, config.validation_split, config.seed) == (str(tiny_sft_file), 0.25, 42)
        assert (config.heldout, config.heldout_rows) == ("validation", 5)
    assert experiments.load_experiment("methods") == record == experiments.list_experiments()[0]
    assert [row["status"] for row in experiments.comparison_rows(experiments.run_dirs(record))] == ["queued"] * 3
    with pytest.raises(ValueError, match="already exists"):
        experiments.queue_experiment("methods", str(tiny_sft_file), "cpu-lora", "method", ["lora", "ia3"], overrides)
    with pytest.raises(ValueError, match="No experiment 'nope'"):
        experiments.load_experiment("nope")
    rates = experiments.queue_experiment("rates", str(tiny_sft_file), "cpu-lora", "learning_rate", ["1e-3", 0.002],
                                         overrides)
    assert rates["runs"] == ["rates-0_001", "rates-0_002"] and rates["values"] == [0.001, 0.002]
    own = experiments.queue_experiment("own", str(tiny_sft_file), "lora", "method", ["lora", "prefix-tuning", "full"],
                                       overrides)  # full keeps the preset's rate: its own 1e-5 is for long runs
    assert [runs.load_run_config(runs_dir() / name).learning_rate for name in own["runs"]] == [2e-4, 1e-2, 2e-4]
    one_rate = experiments.queue_experiment("one-rate", str(tiny_sft_file), "cpu-lora", "method",
                                            ["lora", "prefix-tuning", "full"], {**overrides, "learning_rate": 1e-4})
    assert {runs.load_run_config(runs_dir() / name).learning_rate for name in one_rate["runs"]} == {1e-4}


def test_each_method_has_the_learning_rate_its_preset_recommends():
    """Prompt methods start from random or borrowed vectors and need rates 50-150x LoRA's; full fine-tuning, a
    fifth of it. The shipped presets say so, and a comparison of methods takes each from there."""
    from studio.config import load_config

    rates = experiments.method_learning_rates()
    assert set(rates) == {"adalora", "ia3", "prefix-tuning", "prompt-tuning", "p-tuning", "freeze", "full"}
    assert all(rates[method] == load_config(method).learning_rate for method in rates)
    assert rates["prompt-tuning"] > rates["prefix-tuning"] > rates["ia3"] > load_config("lora").learning_rate
    assert load_config("lora").learning_rate > rates["freeze"] > rates["full"]


def test_an_enqueue_that_fails_half_way_takes_the_runs_before_it_out_again(workspace, tiny_model_dir, tiny_sft_file,
                                                                            monkeypatch):
    real = run_queue.enqueue

    def enqueue(config, name=""):
        if name.endswith("ia3"):
            raise OSError("disk full")
        return real(config, name)

    monkeypatch.setattr(run_queue, "enqueue", enqueue)
    with pytest.raises(OSError, match="disk full"):
        experiments.queue_experiment("half", str(tiny_sft_file), "cpu-lora", "method", ["lora", "ia3"],
                                     {"base_model": str(tiny_model_dir), "validation_split": 0.25})
    assert run_queue.queued() == [] and not runs.run_folders() and experiments.list_experiments() == []


def test_runs_of_different_methods_are_labelled_by_the_method_and_others_by_what_differs(tmp_path):
    import yaml

    def run(name: str, **settings):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.yaml").write_text(yaml.safe_dump({"seed": 42, "output_dir": str(folder), **settings}))
        return folder

    methods = [run("a", method="lora", learning_rate=2e-3), run("b", method="prefix-tuning", learning_rate=1e-2,
                                                                  num_virtual_tokens=16)]
    assert list(experiments.labels(methods).values()) == ["lora", "prefix-tuning"]
    rates = [run("c", method="lora", learning_rate=1e-3), run("d", method="lora", learning_rate=2e-3)]
    assert list(experiments.labels(rates).values()) == ["learning_rate 0.001", "learning_rate 0.002"]
    mixed = [run("e", method="ia3", learning_rate=5e-3), *rates]  # two runs of one method: their rates are shown
    assert list(experiments.labels(mixed).values()) == ["ia3, learning_rate 0.005", "lora, learning_rate 0.001",
                                                        "lora, learning_rate 0.002"]
