"""The Export tab: its buttons act only on a run they can act on, and it speaks the page's language."""

from __future__ import annotations

import json
from types import SimpleNamespace

import gradio as gr

from studio.jobs import JobManager
from studio.ui import export_tab
from studio.ui.lang import LANGUAGE_COOKIE

ZH = SimpleNamespace(cookies={LANGUAGE_COOKIE: "zh"}, headers={})


def saved_run(workspace, name: str, folder: str, peft_type: str | None = None):
    """A run folder holding adapter/ or model/ (no weights: the tab only looks at what kind it saved)."""
    run = workspace / "runs" / name
    (run / folder).mkdir(parents=True)
    (run / "config.yaml").write_text("method: lora\nbase_model: embedded\ndataset: d.jsonl\n")
    if peft_type:
        (run / folder / "adapter_config.json").write_text(json.dumps({"peft_type": peft_type}))
    return run


def test_the_buttons_wait_for_a_finished_run(workspace):
    with gr.Blocks() as demo:
        export_tab.build(JobManager())
    buttons = {block.elem_id: block for block in demo.blocks.values() if isinstance(block, gr.Button)}
    assert not buttons["export-zip"].interactive and not buttons["export-merge"].interactive
    zip_button, merge_button, note, message = export_tab.actions(None)
    assert not zip_button["interactive"] and not merge_button["interactive"] and not note["visible"]
    assert message.startswith("No finished run yet")
    assert export_tab.actions(None, ZH)[3].startswith("还没有已完成的训练")


def test_merge_is_off_with_its_reason_when_there_is_nothing_to_merge(workspace):
    saved_run(workspace, "lora-run", "adapter", "LORA")
    saved_run(workspace, "prompt-run", "adapter", "PROMPT_TUNING")
    saved_run(workspace, "full-run", "model")
    zip_button, merge_button, note, message = export_tab.actions("lora-run")
    assert zip_button["interactive"] and merge_button["interactive"] and not note["visible"] and message == ""
    zip_button, merge_button, note, _ = export_tab.actions("prompt-run")
    assert zip_button["interactive"] and not merge_button["interactive"]
    assert note["visible"] and "virtual tokens" in note["value"]
    _, merge_button, note, _ = export_tab.actions("full-run", ZH)
    assert not merge_button["interactive"] and note["value"].startswith("无需合并")
    zip_button, merge_button, _, message = export_tab.actions("gone", ZH)
    assert not zip_button["interactive"] and not merge_button["interactive"]
    assert message == "⚠️ 这个工作区中没有名为 'gone' 的训练。"


def test_refusals_speak_chinese_and_keep_what_was_shown(trained_run):
    message, *kept = export_tab.make_zip(None, ZH)
    assert message == "⚠️ 请先选择一个已完成的训练。" and kept == [gr.skip()] * 3
    export_tab.merge("tiny-lora", "zh-merged")
    message, *kept = export_tab.merge("tiny-lora", "zh-merged", ZH)
    assert message.startswith("⚠️ ")
    assert message.endswith("不是空的；请换一个新的文件夹名称，以免覆盖已有内容。")
    assert kept == [gr.skip()] * 2


def test_a_finished_run_gets_its_report_in_the_page_language(trained_run):
    message, download = export_tab.make_report("tiny-lora", ZH)
    path = download["value"]
    assert message == "" and download["visible"] and path.endswith(".html")
    text = open(path, encoding="utf-8").read()
    assert text.startswith("<!DOCTYPE html>") and 'lang="zh"' in text and "tiny-lora" in text
    message, *kept = export_tab.make_report("../../etc", ZH)
    assert message.startswith("⚠️ ") and kept == [gr.skip()]


def test_a_finished_run_becomes_one_gguf_file_with_its_modelfile(trained_run):
    message, download, folder, code = export_tab.make_gguf("tiny-lora", "q8_0")
    assert message == "" and download["visible"] and folder.endswith("tiny-lora.q8_0.gguf")
    assert "ollama create" in code["value"] and "FROM ./tiny-lora.q8_0.gguf" in code["value"]
    message, *kept = export_tab.make_gguf("tiny-lora", "q4_k_m", ZH)
    assert message == "⚠️ GGUF 数值格式 'q4_k_m' 不在可选范围内：f16, q8_0, q4_0。"
    assert kept == [gr.skip()] * 3
