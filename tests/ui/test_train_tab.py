"""The Train tab's handlers: settings in and out, preview command, presets, and real jobs on the tiny model."""

from __future__ import annotations

import json
import shlex
import time

import gradio as gr
import pytest
import yaml

from studio import config as config_module
from studio.config import load_config, parse_overrides
from studio.jobs import JobManager
from studio.ui import train_tab

ELEMENT_IDS = ("train-dataset", "train-method", "train-preset", "train-start", "train-abort", "train-resume",
               "train-loss-plot", "train-progress", "train-runs", "train-log", "train-status", "train-base-model",
               "train-max-steps")


def tiny_settings(model_dir, dataset, **overrides) -> list:
    values = dict(base_model=str(model_dir), dataset=str(dataset), max_steps=4, batch_size=2, learning_rate=1e-2,
                  validation_split=0.2, eval_steps=2, save_steps=2, cutoff_length=64, probe_max_new_tokens=2)
    values.update(overrides)
    return train_tab.setting_values(load_config(None, values))


def wait_for(condition, timeout: float = 120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.3)
    raise TimeoutError("condition not met")


def test_tab_builds_with_its_element_ids(workspace):
    with gr.Blocks() as demo:
        train_tab.build(JobManager())
    ids = {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    assert set(ELEMENT_IDS) <= ids


def test_settings_round_trip_through_the_widgets(tiny_sft_file):
    config = load_config("cpu-lora", {"dataset": str(tiny_sft_file), "method": "dora", "max_steps": 5,
                                      "probe_prompts": ["Who are you?", "What is 2+2?"], "gradient_checkpointing": True})
    assert train_tab.read_settings(*train_tab.setting_values(config)) == config
    values = train_tab.setting_values(config)
    values[train_tab.SETTINGS.index("batch_size")] = None
    with pytest.raises(gr.Error, match="batch_size"):
        train_tab.start_run(JobManager(), *values)


def test_preview_command_parses_back_to_the_same_config(tiny_sft_file):
    config = load_config("cpu-lora", {"dataset": str(tiny_sft_file), "lora_rank": 4, "train_on_prompt": True,
                                      "probe_prompts": ["Is it good?"]})
    words = shlex.split(train_tab.preview_command(*train_tab.setting_values(config)))
    assert words[:4] == ["python", "-m", "studio", "train"] and "--set" in words
    flags = {words[index]: words[index + 1] for index in range(4, len(words), 2) if words[index] != "--set"}
    pairs = [words[index + 1] for index in range(4, len(words), 2) if words[index] == "--set"]
    rebuilt = load_config(flags.get("--preset"), {**parse_overrides(pairs), "dataset": flags["--dataset"]})
    assert rebuilt == config


def test_save_as_preset_writes_overrides_only_and_keeps_shipped_ones(tiny_sft_file, workspace):
    shipped = sorted(path.name for path in config_module.PRESETS_DIR.iterdir())
    config = load_config("cpu-lora", {"dataset": str(tiny_sft_file), "lora_rank": 4})
    update = train_tab.save_settings_as_preset("reviews small", *train_tab.setting_values(config))
    assert update["value"] == "reviews-small" and "reviews-small" in update["choices"]
    # Saved in the workspace, not among the project's shipped presets.
    assert sorted(path.name for path in config_module.PRESETS_DIR.iterdir()) == shipped
    saved = yaml.safe_load((workspace / "presets" / "reviews-small.yaml").read_text())
    assert saved == {key: value for key, value in config.overrides().items() if key != "dataset"}
    with pytest.raises(gr.Error, match="ships with the studio"):
        train_tab.save_settings_as_preset("cpu-lora", *train_tab.setting_values(config))
    # Choosing the saved preset gives the same settings back, with the dataset kept.
    assert train_tab.apply_preset("reviews-small", "embedded", str(tiny_sft_file)) == train_tab.setting_values(config)


def test_a_started_run_is_followed_to_the_end(tiny_model_dir, tiny_sft_file, workspace):
    manager = JobManager()
    run_path = train_tab.start_run(manager, *tiny_settings(tiny_model_dir, tiny_sft_file))
    shown = None

    def finished():
        nonlocal shown
        view = train_tab.refresh(manager, run_path, shown)
        if isinstance(view[0], str):
            shown = view[0]
        return view if shown == "finished" else None

    status, line, progress, frame, probes, log, runs = wait_for(finished)
    assert "finished" in line and "step 4/4" in progress and "step 4/4" in log
    assert set(frame.dropna()["series"]) == {"loss", "eval_loss"} and len(frame.dropna()) >= 4
    assert probes and probes[0][0] == 4
    assert runs[0][:3] == [run_path.rsplit("/", 1)[-1], "finished", "lora"]
    # Nothing changed since: a tick redraws nothing.
    assert all(update == gr.skip() for update in train_tab.refresh(manager, run_path, "finished"))
    assert train_tab.followed_run(manager) == run_path


def test_second_start_refused_page_reload_reattaches_abort_and_resume(tiny_model_dir, tiny_sft_file, workspace):
    manager = JobManager()
    settings = tiny_settings(tiny_model_dir, tiny_sft_file, max_steps=3000, eval_steps=0, save_steps=1000)
    run_path = train_tab.start_run(manager, *settings)
    try:
        with pytest.raises(gr.Error, match="already running"):
            train_tab.start_run(manager, *settings)
        # A reloaded page (or a restarted app, with a new manager) follows the running job.
        assert train_tab.followed_run(JobManager()) == run_path
        wait_for(lambda: "/3000 | loss" in train_tab.run_view(manager, run_path)[1])
        train_tab.abort_run(manager, run_path)
        assert train_tab.show_run(manager, run_path)[0] == "aborted"
        assert train_tab.resume_run(manager, run_path) == run_path
        assert manager.status(run_path) == "running"
    finally:
        manager.abort(run_path)
    assert manager.status(run_path) == "aborted"


def test_the_plan_line_says_what_a_run_will_do_before_start(tiny_model_dir, tiny_sft_file, workspace):
    from types import SimpleNamespace

    from studio.plan import describe, plan_steps
    from studio.ui.i18n import EN

    plan = plan_steps(load_config("cpu-lora"), 40, 2_800, tokens_per_second=160)
    # The tab says what the command line prints, in the browser's language.
    assert train_tab.plan_text(plan, EN) == describe(plan) == \
        "40 rows → 6 passes, 30 steps, about 2 min: small datasets need several passes"
    chinese = SimpleNamespace(headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert train_tab.plan_text(plan, train_tab.browser_language(chinese)) == "40 行 → 6 轮，30 步，约 2 分钟：小数据集需要多轮训练"
    # From the settings as the widgets hold them: 12 rows, 2 held out, batches of 2.
    line = train_tab.plan_line(None, *tiny_settings(tiny_model_dir, tiny_sft_file, max_steps=0, epochs=0))
    assert line.startswith("10 rows → 6 passes, 30 steps, about 1 min: small datasets")
    # Half-typed settings say why there is no plan, without raising.
    assert train_tab.plan_line(None, *tiny_settings(tiny_model_dir, "")).startswith("No plan yet: No dataset")


def test_a_finished_run_is_never_resumed_but_trained_further_as_a_new_run(trained_run):
    """Resume would train a finished run again and overwrite its result; Train more starts a new run from it."""
    import json

    from studio.events import read_events

    manager = JobManager()
    summary = (trained_run / "summary.json").read_text()
    with pytest.raises(gr.Error, match="has finished"):
        train_tab.resume_run(manager, str(trained_run))
    values = train_tab.train_more(str(trained_run))
    assert values[train_tab.SETTINGS.index("start_from")] == "tiny-lora"
    values[train_tab.SETTINGS.index("max_steps")] = 2
    run_path = train_tab.start_run(manager, *values)
    assert manager.wait(run_path, timeout=300) == "finished"
    assert (trained_run / "summary.json").read_text() == summary  # the run it went on from is untouched
    earlier = [event["loss"] for event in read_events(trained_run) if "loss" in event]
    later = [event["loss"] for event in read_events(run_path) if "loss" in event]
    # It goes on from the trained adapter: its first loss is near where the finished run ended, not where it began.
    assert abs(later[0] - earlier[-1]) < abs(later[0] - earlier[0])
    assert json.loads((trained_run / "summary.json").read_text())["status"] == "finished"


def test_the_form_follows_the_run_a_reloaded_page_shows_and_the_dataset_the_dataset_tab_opened(trained_run, monkeypatch):
    from studio import ui
    from studio.ui import dataset_tab

    manager = JobManager()
    # A page opening on a stopped run keeps the default preset; on a running one, the form is that run's.
    assert all(update == gr.skip() for update in train_tab.run_settings(manager, str(trained_run)))
    assert all(update == gr.skip() for update in train_tab.run_settings(manager, None))
    monkeypatch.setattr(JobManager, "status", lambda self, run_dir: "running")
    config = train_tab.read_settings(*train_tab.run_settings(manager, str(trained_run)))
    assert config.max_steps == 4 and config.batch_size == 2 and config.output_dir == ""
    draft = dataset_tab.open_sample("identity.jsonl")[0]
    update = ui.dataset_of(draft)
    assert update["value"].endswith("identity.jsonl") and update["value"] in [value for _, value in update["choices"]]
    assert ui.dataset_of(dataset_tab.create("unsaved", "instruction")[0]) == gr.skip()


def test_estimate_never_runs_model_code_in_the_app(tiny_sft_file, monkeypatch):
    from studio.access import REMOTE_CODE_ENV

    monkeypatch.setenv(REMOTE_CODE_ENV, "1")  # even when the app was started with --allow-remote-code
    values = train_tab.setting_values(load_config("cpu-lora", {"dataset": str(tiny_sft_file), "trust_remote_code": True}))
    with pytest.raises(gr.Error, match="never run"):
        train_tab.estimate_settings(*values)


def test_a_stopped_run_ends_with_a_card_of_its_numbers_and_the_next_steps(trained_run):
    from studio.jobs import JobManager as Manager
    from studio.ui import chat_tab, export_tab

    card, train_loss, eval_loss, tokens, seconds = train_tab.run_card(str(trained_run), "finished")
    summary = json.loads((trained_run / "summary.json").read_text())
    assert card["visible"] and train_loss == f"{summary['train_loss']:.4f}" and tokens.startswith(f"{summary['trained_tokens']:,}")
    assert ":" in seconds
    assert train_tab.run_card(str(trained_run), "running")[0]["visible"] is False
    tabs, model = chat_tab.open_run(Manager(), str(trained_run))
    assert tabs.selected == "chat" and model["value"] == "tiny-lora"
    tabs, run = export_tab.open_run(Manager(), str(trained_run))
    assert tabs.selected == "export" and run["value"] == "tiny-lora"
