"""The Train tab's runs: real jobs on the tiny model started, followed, aborted, resumed and trained
further, and the live view in the page's language."""

from __future__ import annotations

import json
import time

import gradio as gr
import pytest
import yaml

from studio.config import load_config
from studio.jobs import JobManager
from studio.ui import train_form, train_runs
from studio.ui.common import dataset_choices
from tests.ui.conftest import chinese_page, tiny_settings


def wait_for(condition, timeout: float = 120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.3)
    raise TimeoutError("condition not met")


def test_a_started_run_is_followed_to_the_end(tiny_model_dir, tiny_sft_file, workspace):
    manager = JobManager()
    run_path, name = train_runs.start_run(manager, None, "my-first-run", *tiny_settings(tiny_model_dir, tiny_sft_file))
    # The run's folder is the name given, and the name field is emptied for the next run.
    assert run_path == str(workspace.resolve() / "runs" / "my-first-run") and name == ""
    shown = busy = None
    started = train_runs.show_run(manager, run_path)
    start, abort = started[8:10]
    assert start["interactive"] is False and abort["interactive"] is True and abort["variant"] == "stop"

    def finished():
        nonlocal shown, busy
        view = train_runs.refresh(manager, run_path, shown, busy)
        if isinstance(view[0], str):
            shown, busy = view[0], view[1]
        return view if shown == "finished" and not busy else None

    status, _, line, progress, chart, probes, log, runs, start, abort, resume, more, next_steps, *queue = wait_for(finished)
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
    assert queue[0]["variant"] == "secondary" and queue[1]["visible"] is False  # Add to queue; Remove from queue
    # Nothing changed since: a tick redraws nothing.
    assert all(update == gr.skip() for update in train_runs.refresh(manager, run_path, "finished", False))
    assert train_runs.followed_run(manager) == run_path
    # A second run may not take a name already taken, nor a name with folders in it.
    for taken in ("my-first-run", "../x", "a/b", "two words"):
        with pytest.raises(gr.Error):
            train_runs.start_run(manager, None, taken, *tiny_settings(tiny_model_dir, tiny_sft_file))
    assert [path.name for path in (workspace / "runs").iterdir() if not path.name.startswith(".")] == ["my-first-run"]


@pytest.mark.slow  # starts training jobs or servers as processes of their own
def test_second_start_refused_page_reload_reattaches_abort_and_resume(tiny_model_dir, tiny_sft_file, workspace):
    manager = JobManager()
    settings = tiny_settings(tiny_model_dir, tiny_sft_file, max_steps=3000, eval_steps=0, save_steps=1000)
    run_path, _ = train_runs.start_run(manager, None, "", *settings)
    try:
        with pytest.raises(gr.Error, match="already running"):
            train_runs.start_run(manager, None, "", *settings)
        # A reloaded page (or a restarted app, with a new manager) follows the running job.
        assert train_runs.followed_run(JobManager()) == run_path
        wait_for(lambda: "/3000 | loss" in train_runs.run_view(manager, run_path)[1])
        train_runs.abort_run(manager, run_path)
        assert train_runs.show_run(manager, run_path)[0] == "aborted"
        assert train_runs.resume_run(manager, run_path) == run_path
        assert manager.status(run_path) == "running"
    finally:
        manager.abort(run_path)
    assert manager.status(run_path) == "aborted"


@pytest.mark.slow  # starts training jobs or servers as processes of their own
def test_a_finished_run_is_never_resumed_but_trained_further_as_a_new_run(own_run):
    """Resume would train a finished run again and overwrite its result; Train more starts a new run from it."""
    import json

    from studio.events import read_events

    trained_run = own_run  # a copy in a workspace of its own: the new run would be the newest in a shared one
    manager = JobManager()
    summary = (trained_run / "summary.json").read_text()
    with pytest.raises(gr.Error, match="has finished"):
        train_runs.resume_run(manager, str(trained_run))
    values = train_runs.train_more(str(trained_run))
    assert values[train_form.SETTINGS.index("start_from")] == "tiny-lora"
    values[train_form.SETTINGS.index("max_steps")] = 2
    run_path, _ = train_runs.start_run(manager, None, "", *values[:-1])
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
    from studio.ui import dataset_edit

    manager = JobManager()
    # A page opening on a stopped run keeps the default preset; on a running one, the form is that run's.
    assert all(update == gr.skip() for update in train_runs.run_settings(manager, str(trained_run)))
    assert all(update == gr.skip() for update in train_runs.run_settings(manager, None))
    monkeypatch.setattr(JobManager, "status", lambda self, run_dir: "running")
    config = train_form.read_settings(*train_runs.run_settings(manager, str(trained_run)))
    assert config.max_steps == 4 and config.batch_size == 2 and config.output_dir == ""
    draft = dataset_edit.open_sample("identity.jsonl")[0]
    update = ui.dataset_of(draft)
    assert update["value"].endswith("identity.jsonl") and update["value"] in [value for _, value in update["choices"]]
    assert ui.dataset_of(dataset_edit.create("unsaved", "instruction")[0]) == gr.skip()


def test_a_stopped_run_ends_with_a_card_of_its_numbers_and_the_next_steps(trained_run):
    from studio.jobs import JobManager as Manager
    from studio.ui import chat_tab, export_tab

    card, train_loss, eval_loss, tokens, seconds = train_runs.run_card(str(trained_run), "finished")
    summary = json.loads((trained_run / "summary.json").read_text())
    assert card["visible"] and train_loss == f"{summary['train_loss']:.4f}" and tokens.startswith(f"{summary['trained_tokens']:,}")
    assert ":" in seconds
    assert train_runs.run_card(str(trained_run), "running")[0]["visible"] is False
    tabs, model = chat_tab.open_run(Manager(), str(trained_run))
    assert tabs.selected == "chat" and model["value"] == "tiny-lora"
    tabs, run = export_tab.open_run(Manager(), str(trained_run))
    assert tabs.selected == "export" and run["value"] == "tiny-lora"


def test_progress_line_explains_warm_up_and_speaks_the_pages_language():
    first = {"step": 1, "loss": 0.9337, "learning_rate": 0.0, "tokens_per_second": 159.3, "elapsed": 6.2, "eta": 55.8}
    assert train_runs.progress_text(first, 10, 1) == \
        "step 1/10 | loss 0.9337 | lr 0 (warming up from 0) | 159 tok/s | 0:06 elapsed, ETA 0:55"
    later = {**first, "step": 2, "learning_rate": 0.002}
    assert "lr 2.00e-03 |" in train_runs.progress_text(later, 10, 1)
    assert train_runs.progress_text(first, 10, 1, chinese_page()) == \
        "第 1/10 步 | 损失 0.9337 | 学习率 0（预热中，从 0 开始升高） | 159 词元/秒 | 已用 0:06，预计还需 0:55"


def test_chinese_page_gets_chinese_tables_statuses_and_messages(trained_run):
    manager = JobManager()
    page = chinese_page()
    status, _, line, progress, chart, probes, *_ = train_runs.show_run(manager, str(trained_run), page)
    assert line == "**tiny-lora** · 已完成" and progress.count("第 4/4 步") == 1 and "训练损失" in chart
    assert list(probes.columns) == ["步", "提示", "参考答案（留出数据）", "模型的回答"]
    runs = train_runs.runs_frame(manager, page)
    assert list(runs.columns) == ["训练", "状态", "方法", "阶段", "数据集", "训练损失", "验证损失", "秒"]
    assert runs.iloc[0, 1] == "已完成"
    assert train_runs.run_view(manager, None, page)[0] == "尚无训练"
    # A half-typed setting says why there is no plan, in Chinese.
    values = train_form.setting_values(load_config("cpu-lora", {"dataset": "nowhere"}))
    assert train_form.plan_line(page, *values) == "暂无计划：工作区的数据集中没有 'nowhere'。"
    settings = yaml.safe_load((trained_run / "config.yaml").read_text())
    values = train_form.setting_values(load_config(None, {**settings, "output_dir": "", "batch_size": 0}))
    with pytest.raises(gr.Error, match="batch_size 必须是 1 到"):
        train_form.preview_command(page, *values)
    values = train_form.setting_values(load_config(None, {**settings, "output_dir": ""}))
    with pytest.raises(gr.Error, match="训练名称 .*只能用字母、数字"):
        train_runs.start_run(manager, page, "../x", *values)
    with pytest.raises(gr.Error, match="已有名为 .*tiny-lora.* 的训练"):
        train_runs.start_run(manager, page, "tiny-lora", *values)
    with pytest.raises(gr.Error, match="请先在训练记录中选中一个已完成的训练"):
        train_runs.train_more(None, request=page)


def test_following_a_command_line_run_keeps_the_form_to_values_it_accepts(own_run, monkeypatch):
    """A run started from the project folder names its data 'presets/samples/...': the form shows the listed sample."""
    from studio.config import SAMPLES_DIR
    from studio.workspace import PROJECT_ROOT

    trained_run = own_run  # the run it adds would be the newest in a shared workspace
    manager = JobManager()
    config = yaml.safe_load((trained_run / "config.yaml").read_text())
    config["dataset"] = str((SAMPLES_DIR / "reviews-train.jsonl").relative_to(PROJECT_ROOT))
    command_line_run = trained_run.parent / "from-the-command-line"
    command_line_run.mkdir()
    (command_line_run / "config.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setattr(JobManager, "status", lambda self, run_dir: "running")
    values = train_runs.run_settings(manager, str(command_line_run))
    dataset = values[train_form.SETTINGS.index("dataset")]
    assert dataset == str(SAMPLES_DIR / "reviews-train.jsonl")
    assert dataset in [value for _, value in dataset_choices()]
    assert not train_form.plan_line(None, *values).startswith("No plan yet")
    # Data the app may not open leaves the form's dataset as it is.
    config["dataset"] = "/somewhere/else/data.jsonl"
    (command_line_run / "config.yaml").write_text(yaml.safe_dump(config))
    assert train_runs.run_settings(manager, str(command_line_run))[train_form.SETTINGS.index("dataset")] == gr.skip()


def test_grpo_charts_and_sampled_answers_follow_the_run_events(workspace):
    run = workspace / "runs" / "grpo"
    run.mkdir(parents=True)
    sample = {"prompt": "Classify: great food", "reference": "positive", "answer": "Positive", "reward": 1.8,
              "rewards": {"rule": 1.0, "length": 0.8}}
    events = [{"event": "prepared", "total_steps": 4},
              {"step": 1, "loss": 0.1, "reward": 0.5, "reward_rule": 0.25, "reward_length": 0.25, "answer_length": 6.0,
               "samples": [sample]},
              {"step": 2, "loss": 0.0, "reward": 1.2, "reward_rule": 0.5, "reward_length": 0.7, "answer_length": 3.0},
              {"step": 2, "eval_loss": 0.0, "reward": 1.0, "answer_length": 4.0, "samples": [sample, {**sample, "answer": "pos"}]}]
    (run / "events.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    row, reward, kl, length, samples = train_runs.grpo_charts(str(run))
    assert row["visible"] is True
    rewards = reward["value"].dropna()
    assert rewards.values.tolist() == [[1, "train", 0.5], [2, "train", 1.2], [2, "validation", 1.0],
                                       [1, "length", 0.25], [2, "length", 0.7], [1, "rule", 0.25], [2, "rule", 0.5]]
    assert kl["visible"] is False  # no KL penalty, no KL to chart
    assert length["visible"] is True and length["value"].dropna()["answer_length"].tolist() == [6.0, 3.0, 4.0]
    assert samples.values.tolist()[1] == [2, "Classify: great food", "positive", "pos", "1.800 (rule 1.00, length 0.80)"]
    assert list(samples.columns) == ["step", "prompt", "reference answer", "model's answer", "reward"]
    # The preference charts stay hidden for a GRPO run, and the GRPO charts for every other run.
    assert train_runs.reward_view(str(run))[0]["visible"] is False
    (run / "events.jsonl").write_text(json.dumps({"step": 1, "loss": 1.0, "preference_accuracy": 0.5,
                                                  "reward_margin": 0.1}) + "\n")
    assert train_runs.grpo_charts(str(run))[0]["visible"] is False
    assert train_runs.grpo_charts(None)[0]["visible"] is False
    chinese = train_runs.grpo_charts(str(run), chinese_page())[4]
    assert list(chinese.columns)[-1] == "奖励"
    line = train_runs.progress_text({"step": 2, "loss": 0.0, "reward": 1.2}, 4, 0)
    assert "reward 1.200" in line and "奖励 1.200" in train_runs.progress_text({"step": 2, "reward": 1.2}, 4, 0, chinese_page())
