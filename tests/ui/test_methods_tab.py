"""The Methods tab's handlers, called as the page (or any HTTP caller) calls them: a comparison queued on the tiny
model (nothing trains: no runner is started), the queue shown and a waiting run removed, a comparison or finished
runs viewed as curves, table and reading in the page's language, the timer that redraws only what changed, the
report offered for download, and every raw value a request may send refused. The whole page is built once to
find the tab between Train and Chat."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

from studio import experiments, report, run_queue
from studio.config import RunConfig
from studio.jobs import JobManager
from studio.runs import load_run_config
from studio.ui import methods_queue, methods_tab, methods_view
from studio.ui.i18n import EN as EN_WORDS, ZH as ZH_WORDS
from studio.ui.i18n_methods import ERRORS_ZH
from tests.ui.conftest import zh_page

EN = SimpleNamespace(cookies={}, headers={"accept-language": "en-US"})
ZH = zh_page()
SKIP = gr.skip()


FORM = ("dataset", "preset", "variable", "methods", "values", "heldout", "heldout_rows", "base_model", "max_steps",
        "name")


def submit(request=EN, **values):
    """queue_comparison with the form's values, in the order the page sends them."""
    return methods_queue.queue_comparison(*(values[name] for name in FORM), request)


def queue(data, model, request=EN, **changes):
    """queue_comparison with the form's values (three methods of the tiny model, 3 steps each), some changed."""
    values = dict(dataset=str(data), preset="cpu-lora", variable="method", methods=["lora", "dora", "ia3"],
                  values="", heldout="validation", heldout_rows=5, base_model=str(model), max_steps=3, name="trio")
    return submit(request, **{**values, **changes})


def finished_run(workspace: Path, name: str, method: str, losses: list[float], summary: dict,
                 heldout: tuple[float, float] | None = None) -> Path:
    """A finished run folder as training leaves it: config, events, summary, adapter, held-out result."""
    folder = workspace / "runs" / name
    (folder / "adapter").mkdir(parents=True)
    (folder / "adapter" / "adapter_model.safetensors").write_bytes(b"0" * 300_000)
    (folder / "config.yaml").write_text(RunConfig(method=method, dataset="/data/reviews.jsonl").to_yaml())
    events = [{"step": step, "loss": loss} for step, loss in enumerate(losses, start=1)]
    events.append({"step": len(losses), "eval_loss": losses[-1] + 0.1})
    (folder / "events.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    (folder / "summary.json").write_text(json.dumps({"status": "finished", "eval_loss": losses[-1] + 0.1, **summary}))
    if heldout:
        (folder / "comparisons").mkdir()
        stored = {"kind": "batch", "headline": "exact_match", "base": {"exact_match": heldout[0]},
                  "tuned": {"exact_match": heldout[1]}}
        (folder / "comparisons" / "heldout.json").write_text(json.dumps(stored))
    return folder


@pytest.fixture
def two_runs(workspace) -> list[Path]:
    return [finished_run(workspace, "run-lora", "lora", [2.5, 1.9, 1.4],
                         {"trainable_parameters": 1_234_567, "peak_memory_mb": 812.4, "wall_seconds": 150,
                          "tokens_per_second": 1234.5}, heldout=(0.1, 0.6)),
            finished_run(workspace, "run-ia3", "ia3", [2.5, 2.3, 2.2],
                         {"trainable_parameters": 18_432, "peak_memory_mb": 640.0, "wall_seconds": 90,
                          "tokens_per_second": 2000.0}, heldout=(0.1, 0.3))]


# ---------------------------------------------------------------- a new comparison and the queue
def test_a_comparison_of_methods_is_queued_shown_and_a_waiting_run_removed(workspace, tiny_model_dir, tiny_sft_file):
    manager = JobManager()
    message, source, experiment = queue(tiny_sft_file, tiny_model_dir)
    assert "**trio**" in message and "3" in message and "trio-lora, trio-dora, trio-ia3" in message
    assert source["value"] == "experiment" and experiment["value"] == "trio"
    assert ("trio · method · tiny.jsonl", "trio") in experiment["choices"]
    # One run per method, in the queue in order, alike in all but the method.
    assert [path.name for path in run_queue.queued()] == ["trio-lora", "trio-dora", "trio-ia3"]
    configs = [load_run_config(path) for path in run_queue.queued()]
    assert [config.method for config in configs] == ["lora", "dora", "ia3"]
    assert {(config.dataset, config.seed, config.max_steps, config.heldout, config.heldout_rows, config.base_model)
            for config in configs} == {(str(tiny_sft_file), 42, 3, "validation", 5, str(tiny_model_dir))}

    state, frame, waiting = methods_queue.queue_view(manager, EN)
    assert list(frame.columns) == ["#", "run", "status", "method", "dataset"]
    assert frame.values.tolist() == [[str(number), f"trio-{method}", "queued", method, "tiny.jsonl"]
                                     for number, method in enumerate(["lora", "dora", "ia3"], start=1)]
    assert waiting["choices"] == ["trio-lora", "trio-dora", "trio-ia3"] and waiting["value"] == "trio-lora"
    # Nothing changed: the tick draws nothing; the Chinese page's table speaks Chinese.
    assert methods_queue.queue_tick(manager, state, EN) == [SKIP] * 3
    chinese = methods_queue.queue_frame(manager, ZH)
    assert list(chinese.columns) == ["#", "训练", "状态", "方法", "数据集"] and chinese.iloc[0, 2] == "排队中"

    # The view follows the comparison while its runs wait.
    view = methods_view.show_view(manager, "experiment", "trio", [], EN)
    shown, _, _, table, reading, download = view
    assert table["run"].tolist() == ["lora", "dora", "ia3"] and set(table["status"]) == {"queued"}
    assert "Still queued" in reading and download["visible"] is False
    assert methods_view.view_tick(manager, "experiment", "trio", [], shown, EN) == [SKIP] * methods_view.VIEW_SIZE

    # A waiting run is taken out: its folder goes, the queue and the view follow.
    removed, state, frame, waiting = methods_queue.remove_waiting(manager, "trio-dora", EN)
    assert "trio-dora" in removed and not (workspace / "runs" / "trio-dora").exists()
    assert frame["run"].tolist() == ["trio-lora", "trio-ia3"] and waiting["choices"] == ["trio-lora", "trio-ia3"]
    assert methods_queue.queue_tick(manager, state, EN) == [SKIP] * 3
    redrawn = methods_view.view_tick(manager, "experiment", "trio", [], shown, EN)
    assert redrawn[3]["run"].tolist() == ["lora", "ia3"]
    # Only a waiting run of this workspace is removed, named as the list names it.
    for raw in ("trio-dora", "../trio-lora", str(workspace / "runs" / "trio-lora"), ["trio-lora"], None, 7):
        with pytest.raises(gr.Error):
            methods_queue.remove_waiting(manager, raw, EN)
    assert [path.name for path in run_queue.queued()] == ["trio-lora", "trio-ia3"]
    with pytest.raises(gr.Error, match="不在等待队列中"):
        methods_queue.remove_waiting(manager, "trio-dora", ZH)

    # The comparison's runs finish one by one: each change is drawn once; a view of stopped runs reads nothing.
    shown = redrawn[0]
    for name in ("trio-lora", "trio-ia3"):
        (workspace / "runs" / name / "summary.json").write_text(json.dumps({"status": "finished"}))
        redrawn = methods_view.view_tick(manager, "experiment", "trio", [], shown, EN)
        assert redrawn[0] != shown
        shown = redrawn[0]
    assert set(redrawn[3]["status"]) == {"finished"} and not methods_view.live(shown)
    reading_nothing = SimpleNamespace(status=lambda folder: pytest.fail("a stopped view reads no run"))
    assert methods_view.view_tick(reading_nothing, "experiment", "trio", [], shown, EN) == [SKIP] * 6


def test_a_setting_comparison_reads_its_values_as_the_setting_takes_them(workspace, tiny_sft_file, monkeypatch):
    calls = []

    def queued(name, dataset, preset, variable, values, overrides=None, heldout="validation", heldout_rows=40):
        calls.append(dict(name=name, dataset=dataset, variable=variable, values=values, overrides=overrides,
                          heldout=heldout, heldout_rows=heldout_rows))
        return {"name": name, "runs": [f"{name}-{value}" for value in range(len(values))]}

    monkeypatch.setattr(experiments, "queue_experiment", queued)
    given = dict(dataset=str(tiny_sft_file), preset="cpu-lora", methods=[], heldout="", heldout_rows=40,
                 base_model="", max_steps=0, name="")
    cases = [("learning_rate", "1e-4, 5e-4，2e-3", [1e-4, 5e-4, 2e-3]), ("lora_rank", "4, 8, 16.0", [4, 8, 16]),
             ("target_modules", "q_proj,v_proj; all-linear", ["q_proj,v_proj", "all-linear"]),
             ("lr_scheduler", "cosine,\nconstant", ["cosine,", "constant"])]
    for variable, text, expected in cases:
        submit(**given, variable=variable, values=text)
        assert calls[-1]["values"] == expected and all(type(value) is type(first) for value, first in
                                                       zip(calls[-1]["values"], expected))
    # An empty name is made from what varies and the time; no held-out rows, no model, no steps: nothing set.
    assert re.fullmatch(r"lr-scheduler-\d{4}-\d{6}", calls[-1]["name"]) and len(calls[-1]["name"]) <= 40
    assert calls[-1]["overrides"] == {} and calls[-1]["heldout"] == ""
    # Steps go to every run, but not where the steps themselves are compared.
    submit(**{**given, "max_steps": 12}, variable="lora_rank", values="4, 8")
    assert calls[-1]["overrides"] == {"max_steps": 12}
    submit(**{**given, "max_steps": 12}, variable="max_steps", values="10, 20")
    assert calls[-1]["overrides"] == {} and calls[-1]["values"] == [10, 20]
    # The form: the methods' boxes for methods, the values (with a suggestion) for a setting.
    methods, values = methods_queue.variable_view("lora_rank")
    assert methods["visible"] is False and values["visible"] is True and values["value"] == "4, 8, 16"
    assert methods_queue.variable_view("method")[0]["visible"] is True
    assert [value for _, value in methods_queue.variable_choices()] == ["method", *experiments.VARIABLES]


def test_raw_values_from_a_request_are_refused(workspace, tiny_model_dir, tiny_sft_file, monkeypatch, tmp_path):
    monkeypatch.setattr(experiments, "queue_experiment", lambda *args, **kwargs: pytest.fail("nothing is queued"))
    outside = tmp_path.parent.parent / "outside.jsonl"  # outside the folders a request may name
    refused = [
        dict(dataset=""), dict(dataset="/etc/passwd"), dict(dataset=str(outside)), dict(dataset=["a"]),
        dict(preset="../../etc/x"), dict(preset=None), dict(variable="output_dir"), dict(variable=["method"]),
        dict(methods=["lora"]), dict(methods=["lora", "lora"]), dict(methods=["lora", "evil"]), dict(methods="lora"),
        dict(methods=["lora", "dora", "ia3", "freeze", "full", "qlora", "adalora", "prefix-tuning", "p-tuning",
                      "prompt-tuning", "lora-8bit", "lora", "x"]),
        dict(variable="learning_rate", values="1e-4"), dict(variable="learning_rate", values="abc, 1e-4"),
        dict(variable="learning_rate", values="nan, 1e-4"), dict(variable="learning_rate", values="5, 10"),
        dict(variable="learning_rate", values="1e-4, 1e-4"), dict(variable="lora_rank", values="2.5, 4"),
        dict(variable="lora_rank", values=", ".join(str(rank) for rank in range(1, 15))),
        dict(variable="lora_rank", values=["4", "8"]), dict(variable="lora_rank", values="1e999, 4"),
        dict(heldout="/etc/passwd"), dict(heldout=5), dict(heldout=None),
        dict(heldout_rows=math.nan), dict(heldout_rows=0), dict(heldout_rows=10**9), dict(heldout_rows="5"),
        dict(heldout_rows=True), dict(heldout_rows=2.5), dict(heldout_rows=None),
        dict(max_steps=-1), dict(max_steps=1.5), dict(max_steps=math.inf), dict(max_steps="3"),
        dict(base_model="/etc"), dict(base_model="../model"),
    ]
    for change in refused:
        with pytest.raises(gr.Error):
            queue(tiny_sft_file, tiny_model_dir, **change)
    # The tab's own refusals speak the page's language.
    with pytest.raises(gr.Error) as raised:
        queue(tiny_sft_file, tiny_model_dir, ZH, variable="lora_rank", values="2.5, 4")
    assert "LoRA 秩" in raised.value.message and raised.value.title == "错误"
    with pytest.raises(gr.Error, match="请勾选两种或更多方法"):
        queue(tiny_sft_file, tiny_model_dir, ZH, methods=["lora"])
    assert run_queue.queued() == []


def test_the_core_refusals_reach_the_page_without_queueing_half(workspace, tiny_model_dir, tiny_sft_file):
    queue(tiny_sft_file, tiny_model_dir, name="taken")
    for change in (dict(name="taken"), dict(name="../x"), dict(name="x" * 41), dict(name="two words")):
        with pytest.raises(gr.Error):
            queue(tiny_sft_file, tiny_model_dir, **change)
    assert len(run_queue.queued()) == 3
    # Their Chinese, by the patterns of i18n_methods (which i18n_errors applies to every message).
    messages = ["An experiment named 'taken' already exists; choose another name.",
                "Give from 2 to 12 values of lora_rank to compare.",
                "trio-lora is not waiting in the queue; only a queued run that has not started can be removed from it.",
                "heldout 'validation' needs validation rows: set validation_split above 0 or validation_dataset, or "
                "name a test file instead."]
    for message in messages:
        translated = [text.format(*match.groups()) for pattern, text in ERRORS_ZH
                      if (match := re.fullmatch(pattern, message))]
        assert translated and re.search(r"[\u4e00-\u9fff]", translated[0]), message


# ---------------------------------------------------------------- the view
def test_finished_runs_are_read_side_by_side_in_the_page_language(workspace, two_runs):
    manager = JobManager()
    assert {value for _, value in methods_view.run_choices(manager)} == {"run-lora", "run-ia3"}
    state, training, validation, table, reading, download = methods_view.show_view(
        manager, "runs", None, ["run-lora", "run-ia3"], EN)
    assert not methods_view.live(state) and download == gr.update(visible=False, value=None)
    assert training.startswith("<svg") and ">lora<" in training and ">ia3<" in training and ">step<" in training
    assert validation.startswith("<svg") and "<circle" in validation
    assert list(table.columns) == ["run", "method", "status", "trained parameters", "peak memory (MB)", "minutes",
                                   "tokens/s", "validation loss", "held-out exact match: base → tuned", "saved (MB)"]
    assert table.values.tolist()[0] == ["lora", "lora", "finished", "1.23 M", "812", "2.5", "1,234", "1.5000",
                                        "0.10 → 0.60", "0.3"]
    assert table.iloc[1, 3] == "18.43 K"
    assert reading.startswith("- ") and "lora learned most" in reading
    # In Chinese: headers, statuses, counts, axes and the reading.
    _, training, _, table, reading, _ = methods_view.show_view(manager, "runs", None, ["run-lora", "run-ia3"], ZH)
    assert ">步<" in training and ">损失<" in training
    assert table.columns[0] == "训练" and table.iloc[0, 2] == "已完成" and table.iloc[0, 3] == "123.5 万"
    assert table.iloc[1, 3] == "1.84 万" and re.search(r"[\u4e00-\u9fff]", reading)
    # Nothing picked: empty charts, a table with headers, a line that says what to do.
    _, training, _, table, reading, _ = methods_view.show_view(manager, "runs", None, [], EN)
    assert training == "" and table.empty and "Pick a comparison" in reading
    assert methods_view.show_view(manager, "experiment", None, [], EN)[3].empty


def test_view_and_report_refuse_what_is_not_a_saved_comparison_or_a_run(workspace, two_runs, monkeypatch):
    manager = JobManager()
    for source, experiment, picked in (("experiment", "nope", []), ("experiment", "../runs/run-lora", []),
                                       ("experiment", ["x"], []), ("runs", None, ["../../etc"]),
                                       ("runs", None, ["run-lora", str(Path("/tmp/run-ia3"))]),
                                       ("runs", None, ["run-lora"] * 13)):
        with pytest.raises(gr.Error):
            methods_view.show_view(manager, source, experiment, picked, EN)
        with pytest.raises(gr.Error):
            methods_view.make_report(source, experiment, picked, EN)
        # The timer never shows a message: it leaves the view as drawn.
        assert methods_view.view_tick(manager, source, experiment, picked, {"choice": [], "runs": [["x", "queued", 0]]},
                                      EN) == [SKIP] * 6
    with pytest.raises(gr.Error, match="Pick a saved comparison"):
        methods_view.make_report("runs", None, [], EN)
    with pytest.raises(gr.Error, match="没有已保存的对比"):
        methods_view.show_view(manager, "experiment", "nope", [], ZH)


def test_the_report_is_made_in_the_page_language_and_offered_for_download(workspace, two_runs, monkeypatch):
    update = methods_view.make_report("runs", None, ["run-lora", "run-ia3"], ZH)
    page = Path(update["value"]).read_text(encoding="utf-8")
    assert update["visible"] is True and Path(update["value"]).parent == workspace / "exports"
    assert page.lower().startswith("<!doctype html") and page.rstrip().endswith("</html>")
    assert "run-lora" in page and re.search(r"[\u4e00-\u9fff]", page)
    made = []

    def experiment_report(name=None, runs=None, language="en"):
        made.append((name, [Path(run).name for run in runs or []], language))
        path = workspace / "exports" / "report.html"
        path.parent.mkdir(exist_ok=True)
        path.write_text("<!doctype html><html></html>")
        return path

    monkeypatch.setattr(report, "experiment_report", experiment_report)
    update = methods_view.make_report("runs", None, ["run-lora", "run-ia3"], ZH)
    assert update["visible"] is True and update["value"] == str(workspace / "exports" / "report.html")
    assert made == [(None, ["run-lora", "run-ia3"], "zh")]
    (workspace / "experiments").mkdir(exist_ok=True)
    (workspace / "experiments" / "pair.json").write_text(json.dumps(
        {"name": "pair", "dataset": "/data/reviews.jsonl", "variable": "method", "values": ["lora", "ia3"],
         "runs": ["run-lora", "run-ia3"], "created": "2026-01-01T00:00:00"}))
    methods_view.make_report("experiment", "pair", [], EN)
    assert made[-1] == ("pair", [], "en")
    lists = methods_view.refreshed_lists(JobManager(), "gone", ["run-lora", "deleted"])
    assert lists[0]["value"] == "pair" and lists[1]["value"] == ["run-lora"]


# ---------------------------------------------------------------- the page
def test_the_tab_sits_between_train_and_chat_with_every_label_in_both_languages(workspace):
    from studio.ui import build_ui

    demo = build_ui(JobManager())
    tabs = [block for block in demo.blocks.values() if isinstance(block, gr.Tab) and block.id in
            ("dataset", "train", "methods", "chat", "compare", "export")]
    assert [tab.id for tab in tabs] == ["dataset", "train", "methods", "chat", "compare", "export"]
    methods = next(tab for tab in tabs if tab.id == "methods")
    assert EN_WORDS["tab.methods"] == "Methods" and ZH_WORDS["tab.methods"] == "方法对比"
    ids = {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    assert {"methods-dataset", "methods-preset", "methods-variable", "methods-methods", "methods-values",
            "methods-heldout", "methods-heldout-rows", "methods-base-model", "methods-max-steps", "methods-name",
            "methods-queue", "methods-queue-table", "methods-waiting", "methods-remove", "methods-source",
            "methods-experiment", "methods-runs", "methods-train-chart", "methods-eval-chart", "methods-table",
            "methods-reading", "methods-report", "methods-download"} <= ids
    assert methods.label is not None
    api = {dependency.api_name for dependency in demo.fns.values()}
    assert {"queue_comparison", "remove_waiting", "show_comparison", "comparison_report"} <= api
    source = "".join(Path(module.__file__).read_text(encoding="utf-8")
                     for module in (methods_tab, methods_queue, methods_view))
    keys = set(re.findall(r"""["'](methods\.[a-z_.]+[a-z])["']""", source))
    keys |= {f"methods.column.{name}" for name in methods_view.COLUMNS}
    keys |= {f"methods.status.{status}" for status in methods_view.STATUSES}
    keys |= {f"methods.queue_column.{name}" for name in methods_queue.QUEUE_COLUMNS}
    keys |= {f"methods.error.{key}" for key in re.findall(r'refuse\(request, "(\w+)"', source)}
    assert len(keys) > 40 and keys <= set(EN_WORDS) and keys <= set(ZH_WORDS)
    assert not [key for key in keys if ZH_WORDS[key] == EN_WORDS[key] and re.search("[A-Za-z]{4}", EN_WORDS[key])
                and key != "methods.queue_column.position"]
