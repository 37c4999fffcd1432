"""The Train tab's form: settings in and out, preview command, presets, the plan line and the estimate."""

from __future__ import annotations

import shlex

import gradio as gr
import pytest
import yaml

from studio import config as config_module
from studio.config import load_config, parse_overrides
from studio.jobs import JobManager
from studio.ui import train_form, train_runs
from tests.ui.conftest import chinese_page, tiny_settings


def test_settings_round_trip_through_the_widgets(tiny_sft_file):
    config = load_config("cpu-lora", {"dataset": str(tiny_sft_file), "method": "dora", "max_steps": 5,
                                      "probe_prompts": ["Who are you?", "What is 2+2?"], "gradient_checkpointing": True})
    assert train_form.read_settings(*train_form.setting_values(config)) == config
    values = train_form.setting_values(config)
    values[train_form.SETTINGS.index("batch_size")] = None
    with pytest.raises(gr.Error, match="batch_size"):
        train_runs.start_run(JobManager(), None, "", *values)


def test_preview_command_parses_back_to_the_same_config(tiny_sft_file):
    config = load_config("cpu-lora", {"dataset": str(tiny_sft_file), "lora_rank": 4, "train_on_prompt": True,
                                      "probe_prompts": ["Is it good?"]})
    words = shlex.split(train_form.preview_command(None, *train_form.setting_values(config)))
    assert words[:4] == ["python", "-m", "studio", "train"] and "--set" in words
    flags = {words[index]: words[index + 1] for index in range(4, len(words), 2) if words[index] != "--set"}
    pairs = [words[index + 1] for index in range(4, len(words), 2) if words[index] == "--set"]
    rebuilt = load_config(flags.get("--preset"), {**parse_overrides(pairs), "dataset": flags["--dataset"]})
    assert rebuilt == config


def test_save_as_preset_writes_overrides_only_and_keeps_shipped_ones(tiny_sft_file, workspace):
    shipped = sorted(path.name for path in config_module.PRESETS_DIR.iterdir())
    config = load_config("cpu-lora", {"dataset": str(tiny_sft_file), "lora_rank": 4})
    update = train_form.save_settings_as_preset(None, "reviews small", *train_form.setting_values(config))
    assert update["value"] == "reviews-small" and "reviews-small" in update["choices"]
    # Saved in the workspace, not among the project's shipped presets.
    assert sorted(path.name for path in config_module.PRESETS_DIR.iterdir()) == shipped
    saved = yaml.safe_load((workspace / "presets" / "reviews-small.yaml").read_text())
    assert saved == {key: value for key, value in config.overrides().items() if key != "dataset"}
    with pytest.raises(gr.Error, match="ships with the studio"):
        train_form.save_settings_as_preset(None, "cpu-lora", *train_form.setting_values(config))
    # Choosing the saved preset gives the same settings back, with the dataset kept.
    assert train_form.apply_preset("reviews-small", "embedded", str(tiny_sft_file)) == train_form.setting_values(config)


def test_the_plan_line_says_what_a_run_will_do_before_start(tiny_model_dir, tiny_sft_file, workspace):
    from types import SimpleNamespace

    from studio.training.plan import describe, plan_steps
    from studio.ui.i18n import EN
    from studio.ui.lang import words

    plan = plan_steps(load_config("cpu-lora"), 40, 2_800, tokens_per_second=160)
    # The tab says what the command line prints, in the browser's language.
    assert train_form.plan_text(plan, EN) == describe(plan) == \
        "40 rows → 6 passes, 30 steps, about 2 min: small datasets need several passes"
    chinese = SimpleNamespace(headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"}, cookies={})
    assert train_form.plan_text(plan, words(chinese)) == "40 行 → 6 轮，30 步，约 2 分钟：小数据集需要多轮训练"
    # From the settings as the widgets hold them: 12 rows, 2 held out, batches of 2.
    line = train_form.plan_line(None, *tiny_settings(tiny_model_dir, tiny_sft_file, max_steps=0, epochs=0))
    assert line.startswith("10 rows → 6 passes, 30 steps, about 1 min: small datasets")
    # Half-typed settings say why there is no plan, without raising.
    assert train_form.plan_line(None, *tiny_settings(tiny_model_dir, "")).startswith("No plan yet: No dataset")


def test_estimate_never_runs_model_code_in_the_app(tiny_sft_file, monkeypatch):
    from studio.access import REMOTE_CODE_ENV

    monkeypatch.setenv(REMOTE_CODE_ENV, "1")  # even when the app was started with --allow-remote-code
    values = train_form.setting_values(load_config("cpu-lora", {"dataset": str(tiny_sft_file), "trust_remote_code": True}))
    with pytest.raises(gr.Error, match="never run"):
        train_form.estimate_settings(None, lambda *args, **kwargs: None, *values)


def test_estimate_shows_its_phases_and_time_left_and_cancel_stops_it(tiny_model_dir, tiny_sft_file, workspace):
    values = tiny_settings(tiny_model_dir, tiny_sft_file)
    shown = []
    result = train_form.estimate_settings(chinese_page(), lambda fraction, desc: shown.append((fraction, desc)), *values)
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
            train_form.cancel_estimate(request)

    assert train_form.estimate_settings(request, cancel_during_loading, *values) == (gr.skip(),) * 4
    assert len(phases) == 2 and not train_form.CANCELLED_ESTIMATES
    # Cancel acts only while an estimate runs; Estimate waits meanwhile.
    assert [update["interactive"] for update in train_form.estimating(True)] == [False, True]
    assert [update["interactive"] for update in train_form.cancel_estimate(request)] == [True, False]
    train_form.CANCELLED_ESTIMATES.clear()


def fake_run(workspace, name: str, stage: str, status: str = "finished"):
    """A run folder of the workspace as the runs list reads it: its settings, its summary and its adapter."""
    folder = workspace / "runs" / name
    (folder / "adapter").mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"stage": stage, "method": "lora", "dataset": "pairs.jsonl"}))
    (folder / "summary.json").write_text(f'{{"status": "{status}"}}')
    return folder


def test_grpo_settings_show_together_in_the_stage_section_for_grpo_only():
    assert not set(name for row in train_form.GRPO_ROWS for name in row) & set(train_form.ADVANCED)
    assert train_form.grpo_settings_view("grpo")["visible"] is True
    assert all(train_form.grpo_settings_view(stage)["visible"] is False for stage in ("sft", "dpo", "kto", "rm"))
    # Beta weighs something in DPO, ORPO, KTO and (as the KL penalty) GRPO; the loss type is DPO's alone.
    for stage, shown in (("grpo", [True, False]), ("kto", [True, False]), ("dpo", [True, True]), ("rm", [False, False])):
        assert [update["visible"] for update in train_form.stage_view(stage)] == shown
    with gr.Blocks() as demo:
        from studio.ui import train_tab

        train_tab.build(JobManager())
    ids = {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    assert {"train-grpo-settings", "train-reward-model", "train-reward-rule", "train-reward-pattern", "train-reward-length",
            "train-grpo-generations", "train-grpo-max-new-tokens", "train-grpo-temperature"} <= ids


def test_reward_model_is_a_finished_rm_run_of_the_workspace(tiny_sft_file, workspace, tmp_path):
    reward = fake_run(workspace, "rm-1", "rm")
    fake_run(workspace, "sft-1", "sft")
    fake_run(workspace, "rm-2", "rm", status="failed")
    choices = train_form.reward_model_choices(JobManager())["choices"]
    assert choices == [("—", ""), ("rm-1 · lora · pairs.jsonl", str(reward))]
    values = dict(dataset=str(tiny_sft_file), stage="grpo", reward_rule="exact")
    config = train_form.read_settings(*train_form.setting_values(load_config("cpu-grpo", {**values, "reward_model": "rm-1"})))
    assert config.reward_model == str(reward.resolve()) and config.reward_rule == "exact"
    assert train_form.read_settings(*train_form.setting_values(config)) == config  # the form shows what it reads
    for value, refused in (("sft-1", "not a reward-model run"), (str(tmp_path / "elsewhere"), "not a run of this workspace"),
                           ("../rm-1", "not a plain run name")):
        with pytest.raises(ValueError, match=refused):
            train_form.read_settings(*train_form.setting_values(load_config(None, {**values, "reward_model": value})))
