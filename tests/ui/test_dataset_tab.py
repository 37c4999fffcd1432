"""The Dataset tab's page: it builds, every label it names is translated, and the first screen."""

from __future__ import annotations

import re
from pathlib import Path

import gradio as gr

from studio.jobs import JobManager
from studio.shapes import SHAPES
from studio.ui import CSS, dataset_checks, dataset_edit, dataset_tab
from studio.ui.i18n import EN, ZH


def test_tab_builds():
    with gr.Blocks():
        dataset_tab.build(JobManager())


def test_every_label_has_english_and_chinese():
    source = "".join(Path(module.__file__).read_text(encoding="utf-8")
                     for module in (dataset_tab, dataset_edit, dataset_checks))
    keys = set(re.findall(r"""["'](dataset\.[a-z_]+)["']""", source))
    assert keys and keys <= set(EN) and keys <= set(ZH)


def test_the_first_screen_picks_samples_without_a_second_click_and_names_the_steps():
    with gr.Blocks() as demo:
        dataset_tab.build(JobManager())
    by_id = {block.elem_id: block for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    assert "dataset-open-sample" not in by_id and "dataset-steps" in by_id
    assert [value for _, value in by_id["dataset-new-shape"].choices] == list(SHAPES)
    assert "studio-align-end" in CSS and all(
        "studio-align-end" in (by_id[button].parent.elem_classes or [])
        for button in ("dataset-save", "dataset-undo", "dataset-add", "dataset-delete", "dataset-replace"))
    listened = {(dependency.targets[0][1], dependency.fn.__name__ if dependency.fn else None)
                for dependency in demo.fns.values()}
    assert ("input", "open_sample") in listened and ("input", "open_saved") in listened
