"""The Train tab's page: its element ids, where things sit, and the events it wires."""

from __future__ import annotations

import gradio as gr

from studio.jobs import JobManager
from studio.ui import train_tab

ELEMENT_IDS = ("train-dataset", "train-method", "train-preset", "train-start", "train-abort", "train-resume",
               "train-loss-plot", "train-progress", "train-runs", "train-log", "train-status", "train-base-model",
               "train-max-steps", "train-enqueue", "train-remove-queued")


def test_tab_builds_with_its_element_ids(workspace):
    with gr.Blocks() as demo:
        train_tab.build(JobManager())
    ids = {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    assert set(ELEMENT_IDS) <= ids


def test_the_cancel_button_cancels_the_estimate_event(workspace):
    with gr.Blocks() as demo:
        train_tab.build(JobManager())
    functions = demo.fns.values()
    estimate = next(fn for fn in functions if getattr(fn.fn, "__name__", "") == "estimate_settings")
    cancel = next(fn for fn in functions if fn.cancels)
    assert cancel.cancels == [estimate._id] and estimate.show_progress_on


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
    # Add to queue sits beside Start; Remove from queue shows only for a queued run.
    actions = [block.elem_id for block in by_id["train-start"].parent.children]
    assert actions[:2] == ["train-start", "train-enqueue"] and "train-remove-queued" in actions
    assert by_id["train-remove-queued"].visible is False
