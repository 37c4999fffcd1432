"""The Dataset tab's handlers, called as plain functions: open, upload, edit, save, undo, split, check, render."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

from studio import editing
from studio.data import SHAPES, read_rows
from studio.editing import Draft
from studio.jobs import JobManager
from studio.ui import CSS, dataset_tab
from studio.ui.common import ERROR_SECONDS
from studio.ui.dataset_tab import PROMPT, TRAINED
from studio.ui.i18n import EN, ZH
from studio.ui.lang import LANGUAGE_COOKIE


def table_of(draft, query="", page=1):
    """The shown table as the browser sends it back: a DataFrame, plus the row numbers it shows."""
    update, shown, _, _ = dataset_tab.show_table(draft, query, page)
    return update["value"], shown


def test_tab_builds():
    with gr.Blocks():
        dataset_tab.build(JobManager())


def test_upload_good_file_imports_and_shows_rows(workspace, tmp_path):
    rows = [{"instruction": "Say hi", "input": "", "output": "Hi!"}, {"instruction": "Count", "input": "", "output": "1 2"}]
    path = tmp_path / "my reviews;v2.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    draft, name, shape, *_ = dataset_tab.upload(str(path))
    assert (draft.rows, name, shape) == (rows, "my-reviews-v2", "instruction")
    assert read_rows(workspace / "datasets" / "my-reviews-v2.jsonl") == rows
    frame, shown = table_of(draft)
    assert shown == [1, 2] and frame["output"].tolist() == ["Hi!", "1 2"]


def test_upload_bad_file_names_row_and_field_and_writes_nothing(workspace, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "Say hi", "output": "Hi!"}\n{"instruction": "Count", "output": ""}\n',
                    encoding="utf-8")
    with pytest.raises(gr.Error, match="row 2, field &#x27;output&#x27;: is empty"):
        dataset_tab.upload(str(path))
    assert not list((workspace / "datasets").glob("*"))


def test_edit_then_save_keeps_the_previous_file(workspace):
    draft = dataset_tab.open_sample("identity.jsonl")[0]
    draft, _, message = dataset_tab.save(draft, "identity")
    path = workspace / "datasets" / "identity.jsonl"
    assert str(path) in message and draft.saved
    frame, shown = table_of(draft)
    frame.loc[0, "output"] = "I am Ada."
    draft, *redraw = dataset_tab.edit_cells(draft, frame, shown, "", 1)
    assert draft.rows[0]["output"] == "I am Ada." and not draft.saved
    assert all(value == gr.skip() for value in redraw)  # the table already shows the edit
    assert dataset_tab.check(draft)[-1]  # "unsaved changes"
    draft, _, _ = dataset_tab.save(draft, "identity")
    assert read_rows(path)[0]["output"] == "I am Ada."
    assert "{{name}}" in (workspace / "datasets" / "identity.jsonl.prev").read_text(encoding="utf-8").split("\n")[0]


def test_add_delete_search_and_undo():
    draft = dataset_tab.open_sample("identity.jsonl")[0]
    total = len(draft.rows)
    added, search, page = dataset_tab.add_row(draft)
    assert len(added.rows) == total + 1 and added.rows[-1] == {"instruction": "", "input": "", "output": ""}
    assert search == "" and table_of(added, "", page)[1][-1] == total + 1
    fewer, cleared = dataset_tab.delete(added, "1, 3-4")
    assert len(fewer.rows) == total - 2 and cleared == "" and fewer.rows[0] == draft.rows[1]
    with pytest.raises(gr.Error, match="does not exist"):
        dataset_tab.delete(draft, f"{total + 1}")
    frame, shown = table_of(draft, "你是")
    assert len(shown) == len(frame) >= 1 and all("你是" in text for text in frame["instruction"])
    restored, message = dataset_tab.undo(fewer)
    assert restored.rows == added.rows and message == EN["dataset.undone_delete"]
    assert dataset_tab.undo(restored)[0].rows == draft.rows


def test_find_and_replace_reports_cells_changed():
    draft = dataset_tab.open_sample("identity.jsonl")[0]
    expected = sum("{{name}}" in value for row in draft.rows for value in row.values())
    replaced, message = dataset_tab.replace_all(draft, "{{name}}", "Ada", [])
    assert expected > 0 and message.endswith(f": {expected}")
    assert not any("{{name}}" in value for row in replaced.rows for value in row.values())
    assert draft.rows != replaced.rows  # the draft passed in is never changed
    only_instructions, message = dataset_tab.replace_all(draft, "{{name}}", "Ada", ["instruction"])
    assert only_instructions is draft and message.endswith(": 0")


def test_two_sessions_keep_their_own_edits():
    first = dataset_tab.open_sample("identity.jsonl")[0]
    second = dataset_tab.open_sample("identity.jsonl")[0]
    frame, shown = table_of(first)
    frame.loc[0, "instruction"] = "changed"
    dataset_tab.edit_cells(first, frame, shown, "", 1)
    assert second.rows[0]["instruction"] != "changed" and first.rows[0]["instruction"] != "changed"


def test_chat_json_cell_error_names_the_row(workspace):
    draft = dataset_tab.create("talk", "chat")[0]
    frame, shown = table_of(draft)
    frame.loc[0, "messages"] = '[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]'
    draft = dataset_tab.edit_cells(draft, frame, shown, "", 1)[0]
    assert draft.rows[0]["messages"][1]["content"] == "Hello"
    frame.loc[0, "messages"] = '[{"role": "user", "content": "Hi"}'
    broken = dataset_tab.edit_cells(draft, frame, shown, "", 1)[0]
    assert "row 1, field 'messages': is not valid JSON" in dataset_tab.check(broken)[2]
    with pytest.raises(gr.Error, match="row 1, field &#x27;messages&#x27;: is not valid JSON"):
        dataset_tab.save(broken, "talk")
    assert not (workspace / "datasets" / "talk.jsonl").exists()


def test_split_writes_train_and_validation(workspace):
    draft = dataset_tab.open_sample("identity.jsonl")[0]
    message = dataset_tab.split(draft, 0.1, 42)
    train, validation = (read_rows(workspace / "datasets" / f"identity-{part}.jsonl") for part in ("train", "validation"))
    assert (len(train), len(validation)) == (len(draft.rows) - 4, 4)
    assert "identity-train.jsonl" in message and f"({len(train)})" in message
    exported = dataset_tab.export(draft)
    assert read_rows(exported["value"]) == draft.rows and exported["visible"]


def test_duplicates_are_found_and_selected():
    draft = dataset_tab.open_sample("identity.jsonl")[0]
    doubled = draft.edit([*draft.rows, dict(draft.rows[0], output="Another answer.")], "add")
    row_count, problem_count, _, duplicates, _ = dataset_tab.check(doubled)
    assert (row_count, problem_count) == (len(draft.rows) + 1, 0)
    assert duplicates == f"1 = {len(doubled.rows)}"
    assert dataset_tab.select_copies(doubled) == str(len(doubled.rows))
    assert dataset_tab.check(draft)[3] == EN["dataset.no_duplicates"]


def test_token_histogram_with_an_injected_tokenizer(tiny_tokenizer, monkeypatch):
    draft = dataset_tab.open_sample("identity.jsonl")[0]
    plot, summary, over = dataset_tab.count_tokens(draft, 512, tokenizer=tiny_tokenizer)
    plot = plot["value"]
    assert over == 0 and len(summary.split(" · ")) == 4
    assert plot["rows"].sum() == len(draft.rows) and set(plot["side"]) == {dataset_tab.WITHIN, dataset_tab.OVER}
    assert plot[plot["side"] == dataset_tab.OVER]["rows"].sum() == 0
    assert plot["tokens"].tolist() == sorted(plot["tokens"])  # padded so the chart's text order is numeric
    plot, _, over = dataset_tab.count_tokens(draft, 5, tokenizer=tiny_tokenizer)
    plot = plot["value"]
    assert over == len(draft.rows) == plot[plot["side"] == dataset_tab.OVER]["rows"].sum()

    labels = dataset_tab.histogram([51, 52, 60, 70, 75, 76, 77, 80, 84], cutoff=75)["tokens"].tolist()
    assert "75" in [label.strip() for label in labels] and labels == sorted(labels)  # numeric order, as text too

    def unavailable():
        raise OSError("no tokenizer files")

    monkeypatch.setattr(dataset_tab, "embedded_tokenizer", unavailable)
    plot, summary, over = dataset_tab.count_tokens(draft, 512)
    assert over is None and "no tokenizer files" in summary and plot["value"].empty


def test_what_the_model_sees_marks_the_trained_reply(tiny_tokenizer):
    draft = dataset_tab.open_sample("identity.jsonl")[0]
    pieces = dataset_tab.show_example(draft, 1, tokenizer=tiny_tokenizer)
    trained = "".join(text for text, label in pieces if label == TRAINED)
    prompt = "".join(text for text, label in pieces if label == PROMPT)
    assert draft.rows[0]["output"] in trained and draft.rows[0]["instruction"] in prompt
    assert draft.rows[0]["instruction"] not in trained
    with pytest.raises(gr.Error, match="does not exist"):
        dataset_tab.show_example(draft, len(draft.rows) + 1, tokenizer=tiny_tokenizer)
    broken = draft.edit([{"instruction": "", "input": "", "output": "x"}], "edit")
    with pytest.raises(gr.Error, match="Fix this row first"):
        dataset_tab.show_example(broken, 1, tokenizer=tiny_tokenizer)


def test_every_label_has_english_and_chinese():
    source = Path(dataset_tab.__file__).read_text(encoding="utf-8")
    keys = set(re.findall(r"""["'](dataset\.[a-z_]+)["']""", source))
    assert keys and keys <= set(EN) and keys <= set(ZH)


def test_every_edit_reads_as_a_change_of_the_draft_state():
    """Gradio hashes a gr.State's value before and after each event that writes it (the draft has
    .change listeners); a Draft must survive that hashing, and an edit must change the hash."""
    from gradio.utils import deep_hash

    draft = Draft(name="d", shape="text", rows=[{"text": "a"}])
    edited = draft.edit([{"text": "b"}], "dataset.undone_edit")
    assert deep_hash(draft) == deep_hash(draft) != deep_hash(edited)


def test_the_check_names_placeholders_and_uses_the_cutoff_training_will_use():
    from studio.config import load_config
    from studio.ui.common import default_preset

    draft = dataset_tab.open_sample("identity.jsonl")[0]
    rows, problem_count, problems, _, _ = dataset_tab.check(draft)
    assert problem_count == 0 and "{{name}}" in problems and "{{author}}" in problems
    assert dataset_tab.default_cutoff() == load_config(default_preset()).cutoff_length


def test_a_refused_upload_toast_is_short_and_closes_while_the_whole_list_goes_to_the_message_line(workspace, tmp_path):
    path = tmp_path / "many.jsonl"
    path.write_text("".join('{"instruction": "q", "output": ""}\n' for _ in range(8)), encoding="utf-8")
    report = dataset_tab.Report()
    with pytest.raises(gr.Error) as caught:
        dataset_tab.upload(str(path), report)
    assert caught.value.duration == ERROR_SECONDS  # it closes by itself
    assert caught.value.message.count("row ") == dataset_tab.SHOWN_PROBLEMS and "5 more" in caught.value.message
    assert all(f"row {number}" in dataset_tab.show_report(report) for number in range(1, 9))
    assert not list((workspace / "datasets").glob("*"))


def zh_page() -> SimpleNamespace:
    """A request from a page in Chinese (the header switch's cookie)."""
    return SimpleNamespace(cookies={LANGUAGE_COOKIE: "zh"}, headers={})


def interactive(updates: list) -> list[bool]:
    return [update["interactive"] for update in updates]


def test_picking_a_sample_opens_it_and_clearing_the_pick_does_nothing():
    draft, name, shape, search, page, columns, numbers, saved, sample = dataset_tab.open_sample("identity.jsonl")
    assert (name, shape, search, page, numbers) == ("identity", "instruction", "", 1, "") and len(draft.rows) == 40
    assert saved is None and sample == gr.skip()  # the workspace pick is cleared, the sample stays picked
    for empty in (None, ""):
        assert all(value == gr.skip() for value in dataset_tab.open_sample(empty))  # no error, nothing changes
        assert all(value == gr.skip() for value in dataset_tab.open_saved(empty))
    assert dataset_tab.describe_sample(None) == ""


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


def test_no_control_acts_on_nothing():
    outputs = dataset_tab.controls(Draft(), "")
    assert not any(interactive(outputs))  # nothing open: every control is off
    draft = dataset_tab.open_sample("identity.jsonl")[0]
    save, undo, *editable, delete, copies, show, split, export = dataset_tab.controls(draft, "")
    assert save["interactive"] and save["variant"] == "secondary"  # nothing unsaved yet
    assert not undo["interactive"] and all(interactive(editable)) and all(interactive([copies, show, split, export]))
    assert not delete["interactive"] and delete["variant"] == "secondary"  # no row numbers typed
    delete = dataset_tab.controls(draft, "3, 5-7")[-5]
    assert delete["interactive"] and delete["variant"] == "stop"
    edited = dataset_tab.add_row(draft)[0]
    save, undo = dataset_tab.controls(edited, "")[:2]
    assert save["variant"] == "primary" and undo["interactive"]
    emptied = dataset_tab.delete(dataset_tab.create("blank", "text")[0], "1")[0]
    *_, copies, show, split, export = dataset_tab.controls(emptied, "")
    assert not any(interactive([copies, show, split, export])) and dataset_tab.controls(emptied, "")[0]["interactive"]


def test_every_shipped_sample_is_described_in_english_and_chinese():
    for name in editing.sample_files():
        key = f"dataset.about.{Path(name).stem}"
        assert EN.get(key) and ZH.get(key), name
        assert dataset_tab.describe_sample(name) == EN[key]
        assert dataset_tab.describe_sample(name, zh_page()) == ZH[key]
        assert re.search(r"[\u4e00-\u9fff]", ZH[key])


def test_a_chinese_page_gets_chinese_messages(workspace, tmp_path, tiny_tokenizer):
    zh = zh_page()
    draft, _, shape, *_ = dataset_tab.open_sample("identity.jsonl", zh)
    assert shape == ZH["dataset.shape_name.instruction"]
    problems = dataset_tab.check(draft, zh)[2]
    assert problems.startswith("⚠ 数据中还留有占位符") and "{{name}}（40 行）" in problems
    broken = draft.edit([{"instruction": "Hi", "input": "", "output": ""}], "dataset.undone_edit")
    assert "第 1 行，字段 'output'：为空" in dataset_tab.check(broken, zh)[2]
    assert dataset_tab.check(broken, zh)[-1] == ZH["dataset.unsaved"]
    assert dataset_tab.undo(broken, zh)[1] == ZH["dataset.undone_edit"]
    with pytest.raises(gr.Error) as caught:
        dataset_tab.save(broken, "broken", zh)
    assert "有 1 个问题" in caught.value.message and caught.value.title == ZH["app.error_title"]
    with pytest.raises(gr.Error, match="第 41 行不存在"):
        dataset_tab.delete(draft, "41", zh)
    assert dataset_tab.save(draft, "identity", zh)[2].startswith(ZH["dataset.saved_to"])
    assert dataset_tab.replace_all(draft, "{{name}}", "Ada", [], zh)[1].startswith(ZH["dataset.cells_changed"])
    assert dataset_tab.show_table(draft, "", 1, zh)[3].startswith(ZH["dataset.position"])
    plot = dataset_tab.count_tokens(draft, 512, zh, tokenizer=tiny_tokenizer)[0]
    assert (plot["x_title"], plot["y_title"]) == (ZH["dataset.axis_tokens"], ZH["dataset.axis_rows"])
    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "Say hi", "output": ""}\n', encoding="utf-8")
    report = dataset_tab.Report()
    with pytest.raises(gr.Error):
        dataset_tab.upload(str(path), report, zh)
    assert "第 1 行，字段 'output'：为空" in dataset_tab.show_report(report, zh)
