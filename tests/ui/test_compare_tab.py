"""The Compare and Export tabs' pages on the tiny run: element ids, the Train tab's link, the long tools'
Cancel, tables that fit the page and are headed in its language, and export."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from studio import compare
from studio.jobs import JobManager
from studio.ui import build_ui, compare_handlers, compare_tab, export_tab
from tests.ui.conftest import zh_page

ELEMENT_IDS = ("compare-run", "compare-blind", "compare-prompt", "compare-send", "compare-stop", "compare-left",
               "compare-right", "compare-vote-a", "compare-vote-b", "compare-vote-tie", "compare-reveal",
               "compare-tally", "compare-temperature", "compare-settings", "compare-grid-1", "compare-grid-run",
               "compare-grid-cancel", "compare-grid-status", "compare-grid", "compare-batch-dataset",
               "compare-batch-limit", "compare-batch-run", "compare-batch-cancel", "compare-batch-status",
               "compare-batch-totals", "compare-batch-rows", "compare-batch-csv", "compare-batch-markdown",
               "compare-general-run", "compare-general-cancel", "compare-general-status", "compare-drift",
               "compare-drift-reading", "compare-general", "export-run", "export-zip", "export-download", "export-merge",
               "export-merge-name", "export-folder", "export-code", "train-compare")


def blocks_by_id(demo) -> dict:
    return {block.elem_id: block for block in demo.blocks.values() if getattr(block, "elem_id", None)}


def test_app_builds_with_the_tabs_element_ids(trained_run):
    demo = build_ui(JobManager())
    ids = {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    assert set(ELEMENT_IDS) <= ids
    run = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "compare-run")
    assert run.value == "tiny-lora"


def test_train_tab_link_opens_this_tab_on_the_run(trained_run):
    tabs, run = compare_tab.open_run(JobManager(), str(trained_run))
    assert tabs.selected == "compare" and run["value"] == "tiny-lora"


def test_long_tools_have_a_cancel_that_is_on_only_while_they_run(trained_run):
    demo = build_ui(JobManager())
    blocks = blocks_by_id(demo)
    dependencies = demo.config["dependencies"]
    for name, handler in (("grid", "temperature_grid"), ("batch", "batch"), ("general", "general")):
        start, cancel = blocks[f"compare-{name}-run"], blocks[f"compare-{name}-cancel"]
        assert cancel.interactive is False
        job = next(dependency for dependency in demo.fns.values() if dependency.name == handler)
        cancelling = [dependency for dependency in dependencies
                      if [start_id for start_id, _ in dependency["targets"]] == [cancel._id] and dependency["cancels"]]
        assert [dependency["cancels"] for dependency in cancelling] == [[job._id]]
        assert any(dependency["targets"] == [(start._id, "click")] for dependency in dependencies)
    started, cancel = compare_handlers.busy(True)
    assert started["interactive"] is False and cancel["interactive"] is True
    status, start, cancel = compare_handlers.cancelled(zh_page())
    assert status == "已取消。" and start["interactive"] is True and cancel["interactive"] is False


def test_tables_fit_the_page_and_are_headed_in_its_language(trained_run):
    blocks = blocks_by_id(build_ui(JobManager()))
    for name in ("compare-grid", "compare-batch-totals", "compare-batch-rows", "compare-general"):
        table = blocks[name]
        # Every column has a share of the width, so none runs off the page; long text is cut, a click shows it.
        assert len(table.column_widths) == len(table.value["headers"])
        assert sum(float(width.rstrip("%")) for width in table.column_widths) == 100
    assert blocks["compare-batch-rows"].wrap and blocks["compare-batch-rows"].max_chars
    tally, grid, totals, rows, general = compare_handlers.page_loaded("tiny-lora", zh_page())
    assert tally.startswith("盲测投票") or tally.startswith("还没有盲测投票")
    assert list(grid.columns) == ["温度", "基础模型", "微调后"] and list(totals.columns) == ["指标", "基础模型", "微调后", "变化"]
    assert list(rows.columns)[:3] == ["#", "提示", "参考答案"] and general["提示"].tolist() == list(compare.GENERAL_PROMPTS)


def test_export_tab_zips_merges_and_refuses_to_overwrite(trained_run):
    saved, name, code, download = export_tab.show_run("tiny-lora")
    assert saved.startswith("adapter/") and name == "tiny-lora-merged" and "PeftModel" in code
    message, download, folder, code = export_tab.make_zip("tiny-lora")
    assert not message and download["visible"] and folder.endswith("tiny-lora-adapter.zip") and Path(folder).exists()
    message, folder, code = export_tab.merge("tiny-lora", "tab-merged")
    assert (Path(folder) / "config.json").exists() and "AutoModelForCausalLM.from_pretrained" in code
    # A refused merge says why on the message line and leaves the first merge's folder and code shown.
    message, *kept = export_tab.merge("tiny-lora", "tab-merged")
    assert "not empty" in message and kept == [gr.skip(), gr.skip()]
    message, *kept = export_tab.make_zip(None)
    assert "Pick a finished run first" in message and "compare" not in message.lower() and kept == [gr.skip()] * 3
