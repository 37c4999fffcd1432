"""The Train tab's handlers: settings in and out, preview command, presets, and real jobs on the tiny model."""

from __future__ import annotations

import json
import shlex
import time
from types import SimpleNamespace

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
        train_tab.start_run(JobManager(), None, "", *values)


def test_preview_command_parses_back_to_the_same_config(tiny_sft_file):
    config = load_config("cpu-lora", {"dataset": str(tiny_sft_file), "lora_rank": 4, "train_on_prompt": True,
                                      "probe_prompts": ["Is it good?"]})
    words = shlex.split(train_tab.preview_command(None, *train_tab.setting_values(config)))
    assert words[:4] == ["python", "-m", "studio", "train"] and "--set" in words
    flags = {words[index]: words[index + 1] for index in range(4, len(words), 2) if words[index] != "--set"}
    pairs = [words[index + 1] for index in range(4, len(words), 2) if words[index] == "--set"]
    rebuilt = load_config(flags.get("--preset"), {**parse_overrides(pairs), "dataset": flags["--dataset"]})
    assert rebuilt == config


def test_save_as_preset_writes_overrides_only_and_keeps_shipped_ones(tiny_sft_file, workspace):
    shipped = sorted(path.name for path in config_module.PRESETS_DIR.iterdir())
    config = load_config("cpu-lora", {"dataset": str(tiny_sft_file), "lora_rank": 4})
    update = train_tab.save_settings_as_preset(None, "reviews small", *train_tab.setting_values(config))
    assert update["value"] == "reviews-small" and "reviews-small" in update["choices"]
    # Saved in the workspace, not among the project's shipped presets.
    assert sorted(path.name for path in config_module.PRESETS_DIR.iterdir()) == shipped
    saved = yaml.safe_load((workspace / "presets" / "reviews-small.yaml").read_text())
    assert saved == {key: value for key, value in config.overrides().items() if key != "dataset"}
    with pytest.raises(gr.Error, match="ships with the studio"):
        train_tab.save_settings_as_preset(None, "cpu-lora", *train_tab.setting_values(config))
    # Choosing the saved preset gives the same settings back, with the dataset kept.
    assert train_tab.apply_preset("reviews-small", "embedded", str(tiny_sft_file)) == train_tab.setting_values(config)


def test_a_started_run_is_followed_to_the_end(tiny_model_dir, tiny_sft_file, workspace):
    manager = JobManager()
    run_path, name = train_tab.start_run(manager, None, "my-first-run", *tiny_settings(tiny_model_dir, tiny_sft_file))
    # The run's folder is the name given, and the name field is emptied for the next run.
    assert run_path == str(workspace.resolve() / "runs" / "my-first-run") and name == ""
    shown = busy = None
    started = train_tab.show_run(manager, run_path)
    start, abort = started[8:10]
    assert start["interactive"] is False and abort["interactive"] is True and abort["variant"] == "stop"

    def finished():
        nonlocal shown, busy
        view = train_tab.refresh(manager, run_path, shown, busy)
        if isinstance(view[0], str):
            shown, busy = view[0], view[1]
        return view if shown == "finished" and not busy else None

    status, _, line, progress, chart, probes, log, runs, start, abort, resume, more, next_steps = wait_for(finished)
    assert "finished" in line and "step 4/4" in progress and "step 4/4" in log
    assert "training loss" in chart and "validation loss" in chart
    # The probe rows come from the held-out split: each answer stands beside the answer the data gives.
    outputs = {json.loads(line)["output"] for line in tiny_sft_file.read_text().splitlines()}
    assert list(probes.columns) == ["step", "prompt", "expected (held out)", "model's answer"]
    assert len(probes) == 2 and probes.iloc[0, 0] == 4 and set(probes.iloc[:, 2]) <= outputs
    assert runs.iloc[0, :3].tolist() == ["my-first-run", "finished", "lora"]
    # Stopped: Start is back, Abort grey and idle; a finished run offers Train more and the next steps.
    assert start["interactive"] is True and abort["interactive"] is False and abort["variant"] == "secondary"
    assert more["visible"] is True and next_steps["visible"] is True and resume["visible"] is False
    # Nothing changed since: a tick redraws nothing.
    assert all(update == gr.skip() for update in train_tab.refresh(manager, run_path, "finished", False))
    assert train_tab.followed_run(manager) == run_path
    # A second run may not take a name already taken, nor a name with folders in it.
    for taken in ("my-first-run", "../x", "a/b", "two words"):
        with pytest.raises(gr.Error):
            train_tab.start_run(manager, None, taken, *tiny_settings(tiny_model_dir, tiny_sft_file))
    assert [path.name for path in (workspace / "runs").iterdir() if not path.name.startswith(".")] == ["my-first-run"]


def test_second_start_refused_page_reload_reattaches_abort_and_resume(tiny_model_dir, tiny_sft_file, workspace):
    manager = JobManager()
    settings = tiny_settings(tiny_model_dir, tiny_sft_file, max_steps=3000, eval_steps=0, save_steps=1000)
    run_path, _ = train_tab.start_run(manager, None, "", *settings)
    try:
        with pytest.raises(gr.Error, match="already running"):
            train_tab.start_run(manager, None, "", *settings)
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
    from studio.ui.lang import words

    plan = plan_steps(load_config("cpu-lora"), 40, 2_800, tokens_per_second=160)
    # The tab says what the command line prints, in the browser's language.
    assert train_tab.plan_text(plan, EN) == describe(plan) == \
        "40 rows → 6 passes, 30 steps, about 2 min: small datasets need several passes"
    chinese = SimpleNamespace(headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"}, cookies={})
    assert train_tab.plan_text(plan, words(chinese)) == "40 行 → 6 轮，30 步，约 2 分钟：小数据集需要多轮训练"
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
    run_path, _ = train_tab.start_run(manager, None, "", *values[:-1])
    assert values[-1]["open"] is True  # the section showing where it starts from is opened
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
        train_tab.estimate_settings(None, lambda *args, **kwargs: None, *values)


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


def chinese_page(session: str = "page-1") -> SimpleNamespace:
    """A request from a page switched to Chinese (the header switch's cookie)."""
    return SimpleNamespace(headers={"accept-language": "en-US"}, cookies={"studio_lang": "zh"}, session_hash=session)


def test_estimate_shows_its_phases_and_time_left_and_cancel_stops_it(tiny_model_dir, tiny_sft_file, workspace):
    values = tiny_settings(tiny_model_dir, tiny_sft_file)
    shown = []
    result = train_tab.estimate_settings(chinese_page(), lambda fraction, desc: shown.append((fraction, desc)), *values)
    fractions = [fraction for fraction, _ in shown]
    assert fractions == sorted(set(fractions)) and fractions[0] == 0 and fractions[-1] == 1
    assert shown[1][1] == "正在加载模型" and shown[-1][1] == "完成"
    assert "秒 ×" in result[2] and "分钟" in result[2] and "万" in result[0]
    # Cancel, pressed while the model loads, stops the estimate at its next phase and leaves the results as they were.
    request = chinese_page("page-2")
    phases = []

    def cancel_during_loading(fraction, desc):
        phases.append(desc)
        if len(phases) == 2:
            train_tab.cancel_estimate(request)

    assert train_tab.estimate_settings(request, cancel_during_loading, *values) == (gr.skip(),) * 4
    assert len(phases) == 2 and not train_tab.CANCELLED_ESTIMATES
    # Cancel acts only while an estimate runs; Estimate waits meanwhile.
    assert [update["interactive"] for update in train_tab.estimating(True)] == [False, True]
    assert [update["interactive"] for update in train_tab.cancel_estimate(request)] == [True, False]
    train_tab.CANCELLED_ESTIMATES.clear()


def test_the_cancel_button_cancels_the_estimate_event(workspace):
    with gr.Blocks() as demo:
        train_tab.build(JobManager())
    functions = demo.fns.values()
    estimate = next(fn for fn in functions if getattr(fn.fn, "__name__", "") == "estimate_settings")
    cancel = next(fn for fn in functions if fn.cancels)
    assert cancel.cancels == [estimate._id] and estimate.show_progress_on


def test_progress_line_explains_warm_up_and_speaks_the_pages_language():
    first = {"step": 1, "loss": 0.9337, "learning_rate": 0.0, "tokens_per_second": 159.3, "elapsed": 6.2, "eta": 55.8}
    assert train_tab.progress_text(first, 10, 1) == \
        "step 1/10 | loss 0.9337 | lr 0 (warming up from 0) | 159 tok/s | 0:06 elapsed, ETA 0:55"
    later = {**first, "step": 2, "learning_rate": 0.002}
    assert "lr 2.00e-03 |" in train_tab.progress_text(later, 10, 1)
    assert train_tab.progress_text(first, 10, 1, chinese_page()) == \
        "第 1/10 步 | 损失 0.9337 | 学习率 0（预热中，从 0 开始升高） | 159 词元/秒 | 已用 0:06，预计还需 0:55"


def test_runs_list_sits_in_the_right_column_above_the_log(workspace):
    with gr.Blocks() as demo:
        train_tab.build(JobManager())
    by_id = {block.elem_id: block for block in demo.blocks.values() if getattr(block, "elem_id", None)}

    def column(block):
        while not isinstance(block, gr.Column):
            block = block.parent
        return block

    right = column(by_id["train-status"])
    assert column(by_id["train-runs"]) is right and column(by_id["train-log"]) is right
    order = [block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None) in ("train-runs", "train-log")]
    assert order == ["train-runs", "train-log"]
    # No oversized buttons: every button of the tab is the same medium size, but the dataset list's small refresh.
    sizes = {block.size for block in demo.blocks.values() if isinstance(block, gr.Button) and block.value != "↻"}
    assert sizes == {"md"}
    assert by_id["train-abort"].interactive is False and by_id["train-abort"].variant == "secondary"


def test_chinese_page_gets_chinese_tables_statuses_and_messages(trained_run):
    manager = JobManager()
    page = chinese_page()
    status, _, line, progress, chart, probes, *_ = train_tab.show_run(manager, str(trained_run), page)
    assert line == "**tiny-lora** · 已完成" and progress.count("第 4/4 步") == 1 and "训练损失" in chart
    assert list(probes.columns) == ["步", "提示", "参考答案（留出数据）", "模型的回答"]
    runs = train_tab.runs_frame(manager, page)
    assert list(runs.columns) == ["训练", "状态", "方法", "阶段", "数据集", "训练损失", "验证损失", "秒"]
    assert runs.iloc[0, 1] == "已完成"
    assert train_tab.run_view(manager, None, page)[0] == "尚无训练"
    # A half-typed setting says why there is no plan, in Chinese.
    values = train_tab.setting_values(load_config("cpu-lora", {"dataset": "nowhere"}))
    assert train_tab.plan_line(page, *values) == "暂无计划：工作区的数据集中没有 'nowhere'。"
    settings = yaml.safe_load((trained_run / "config.yaml").read_text())
    values = train_tab.setting_values(load_config(None, {**settings, "output_dir": "", "batch_size": 0}))
    with pytest.raises(gr.Error, match="batch_size 必须是 1 到"):
        train_tab.preview_command(page, *values)
    values = train_tab.setting_values(load_config(None, {**settings, "output_dir": ""}))
    with pytest.raises(gr.Error, match="不是单纯的训练名称"):
        train_tab.start_run(manager, page, "../x", *values)
    with pytest.raises(gr.Error, match="已有名为 .*tiny-lora.* 的训练"):
        train_tab.start_run(manager, page, "tiny-lora", *values)
    with pytest.raises(gr.Error, match="请先在训练记录中选中一个已完成的训练"):
        train_tab.train_more(None, request=page)


def test_following_a_command_line_run_keeps_the_form_to_values_it_accepts(trained_run, monkeypatch):
    """A run started from the project folder names its data 'presets/samples/...': the form shows the listed sample."""
    from studio.config import SAMPLES_DIR
    from studio.workspace import PROJECT_ROOT

    manager = JobManager()
    config = yaml.safe_load((trained_run / "config.yaml").read_text())
    config["dataset"] = str((SAMPLES_DIR / "reviews-train.jsonl").relative_to(PROJECT_ROOT))
    command_line_run = trained_run.parent / "from-the-command-line"
    command_line_run.mkdir()
    (command_line_run / "config.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setattr(JobManager, "status", lambda self, run_dir: "running")
    values = train_tab.run_settings(manager, str(command_line_run))
    dataset = values[train_tab.SETTINGS.index("dataset")]
    assert dataset == str(SAMPLES_DIR / "reviews-train.jsonl")
    assert dataset in [value for _, value in train_tab.dataset_choices()]
    assert not train_tab.plan_line(None, *values).startswith("No plan yet")
    # Data the app may not open leaves the form's dataset as it is.
    config["dataset"] = "/somewhere/else/data.jsonl"
    (command_line_run / "config.yaml").write_text(yaml.safe_dump(config))
    assert train_tab.run_settings(manager, str(command_line_run))[train_tab.SETTINGS.index("dataset")] == gr.skip()
