"""The Dataset tab's editing handlers, called as plain functions: open, upload, edit, save, undo, split, export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gradio as gr
import pytest

from studio import editing
from studio.datafile import read_rows
from studio.editing import Draft
from studio.ui import dataset_checks, dataset_edit
from studio.ui.common import ERROR_SECONDS
from studio.ui.i18n import EN, ZH
from tests.ui.conftest import zh_page


def table_of(draft, query="", page=1):
    """The shown table as the browser sends it back: a DataFrame, plus the row numbers it shows."""
    update, shown, _, _ = dataset_edit.show_table(draft, query, page)
    return update["value"], shown


def test_upload_good_file_imports_and_shows_rows(workspace, tmp_path):
    rows = [{"instruction": "Say hi", "input": "", "output": "Hi!"}, {"instruction": "Count", "input": "", "output": "1 2"}]
    path = tmp_path / "my reviews;v2.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    draft, name, shape, *_ = dataset_edit.upload(str(path))
    assert (draft.rows, name, shape) == (rows, "my-reviews-v2", "instruction")
    assert read_rows(workspace / "datasets" / "my-reviews-v2.jsonl") == rows
    frame, shown = table_of(draft)
    assert shown == [1, 2] and frame["output"].tolist() == ["Hi!", "1 2"]


def test_upload_bad_file_names_row_and_field_and_writes_nothing(workspace, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "Say hi", "output": "Hi!"}\n{"instruction": "Count", "output": ""}\n',
                    encoding="utf-8")
    with pytest.raises(gr.Error, match="row 2, field &#x27;output&#x27;: is empty"):
        dataset_edit.upload(str(path))
    assert not list((workspace / "datasets").glob("*"))


def test_edit_then_save_keeps_the_previous_file(workspace):
    draft = dataset_edit.open_sample("identity.jsonl")[0]
    draft, _, message = dataset_edit.save(draft, "identity")
    path = workspace / "datasets" / "identity.jsonl"
    assert str(path) in message and draft.saved
    frame, shown = table_of(draft)
    frame.loc[0, "output"] = "I am Ada."
    draft, *redraw = dataset_edit.edit_cells(draft, frame, shown, "", 1)
    assert draft.rows[0]["output"] == "I am Ada." and not draft.saved
    assert all(value == gr.skip() for value in redraw)  # the table already shows the edit
    assert dataset_checks.check(draft)[-1]  # "unsaved changes"
    draft, _, _ = dataset_edit.save(draft, "identity")
    assert read_rows(path)[0]["output"] == "I am Ada."
    assert "{{name}}" in (workspace / "datasets" / "identity.jsonl.prev").read_text(encoding="utf-8").split("\n")[0]


def test_add_delete_search_and_undo():
    draft = dataset_edit.open_sample("identity.jsonl")[0]
    total = len(draft.rows)
    added, search, page = dataset_edit.add_row(draft)
    assert len(added.rows) == total + 1 and added.rows[-1] == {"instruction": "", "input": "", "output": ""}
    assert search == "" and table_of(added, "", page)[1][-1] == total + 1
    fewer, cleared = dataset_edit.delete(added, "1, 3-4")
    assert len(fewer.rows) == total - 2 and cleared == "" and fewer.rows[0] == draft.rows[1]
    with pytest.raises(gr.Error, match="does not exist"):
        dataset_edit.delete(draft, f"{total + 1}")
    frame, shown = table_of(draft, "你是")
    assert len(shown) == len(frame) >= 1 and all("你是" in text for text in frame["instruction"])
    restored, message = dataset_edit.undo(fewer)
    assert restored.rows == added.rows and message == EN["dataset.undone_delete"]
    assert dataset_edit.undo(restored)[0].rows == draft.rows


def test_find_and_replace_reports_cells_changed():
    draft = dataset_edit.open_sample("identity.jsonl")[0]
    expected = sum("{{name}}" in value for row in draft.rows for value in row.values())
    replaced, message = dataset_edit.replace_all(draft, "{{name}}", "Ada", [])
    assert expected > 0 and message.endswith(f": {expected}")
    assert not any("{{name}}" in value for row in replaced.rows for value in row.values())
    assert draft.rows != replaced.rows  # the draft passed in is never changed
    only_instructions, message = dataset_edit.replace_all(draft, "{{name}}", "Ada", ["instruction"])
    assert only_instructions is draft and message.endswith(": 0")


def test_two_sessions_keep_their_own_edits():
    first = dataset_edit.open_sample("identity.jsonl")[0]
    second = dataset_edit.open_sample("identity.jsonl")[0]
    frame, shown = table_of(first)
    frame.loc[0, "instruction"] = "changed"
    dataset_edit.edit_cells(first, frame, shown, "", 1)
    assert second.rows[0]["instruction"] != "changed" and first.rows[0]["instruction"] != "changed"


def test_chat_json_cell_error_names_the_row(workspace):
    draft = dataset_edit.create("talk", "chat")[0]
    frame, shown = table_of(draft)
    frame.loc[0, "messages"] = '[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]'
    draft = dataset_edit.edit_cells(draft, frame, shown, "", 1)[0]
    assert draft.rows[0]["messages"][1]["content"] == "Hello"
    frame.loc[0, "messages"] = '[{"role": "user", "content": "Hi"}'
    broken = dataset_edit.edit_cells(draft, frame, shown, "", 1)[0]
    assert "row 1, field 'messages': is not valid JSON" in dataset_checks.check(broken)[2]
    with pytest.raises(gr.Error, match="row 1, field &#x27;messages&#x27;: is not valid JSON"):
        dataset_edit.save(broken, "talk")
    assert not (workspace / "datasets" / "talk.jsonl").exists()


def test_a_new_feedback_dataset_is_typed_in_as_prompt_completion_and_label(workspace):
    draft, name, shape, *_ = dataset_edit.create("kto votes", "feedback")
    assert (name, shape) == ("kto-votes", EN["dataset.shape_name.feedback"])
    assert dataset_edit.create("kto", "feedback", zh_page())[2] == ZH["dataset.shape_name.feedback"]
    frame, shown = table_of(draft)
    assert list(frame.columns) == ["#", "prompt", "completion", "label"] and frame.loc[0, "label"] == "true"
    frame.loc[0, ["prompt", "completion", "label"]] = ["Say hi", "Go away.", "false"]
    draft = dataset_edit.edit_cells(draft, frame, shown, "", 1)[0]
    draft = dataset_edit.add_row(draft)[0]
    frame, shown = table_of(draft)
    frame.loc[1, ["prompt", "completion"]] = ["Say hi", "Hi there!"]
    draft = dataset_edit.edit_cells(draft, frame, shown, "", 1)[0]
    assert draft.rows == [{"prompt": "Say hi", "completion": "Go away.", "label": False},
                          {"prompt": "Say hi", "completion": "Hi there!", "label": True}]
    rows, problems, _, duplicates, _ = dataset_checks.check(draft)
    assert (rows, problems, duplicates) == (2, 0, EN["dataset.no_duplicates"])  # one prompt, a good and a bad answer
    dataset_edit.save(draft, "kto-votes")
    assert read_rows(workspace / "datasets" / "kto-votes.jsonl") == draft.rows
    frame.loc[1, "label"] = "maybe"
    broken = dataset_edit.edit_cells(draft, frame, shown, "", 1)[0]
    assert "row 2, field 'label': must be true (a good answer) or false (a bad one)" in dataset_checks.check(broken)[2]
    assert "第 2 行，字段 'label'：必须是 true（好回答）或 false（坏回答）" in dataset_checks.check(broken, zh_page())[2]


def test_split_writes_train_and_validation(workspace):
    draft = dataset_edit.open_sample("identity.jsonl")[0]
    message = dataset_edit.split(draft, 0.1, 42)
    train, validation = (read_rows(workspace / "datasets" / f"identity-{part}.jsonl") for part in ("train", "validation"))
    assert (len(train), len(validation)) == (len(draft.rows) - 4, 4)
    assert "identity-train.jsonl" in message and f"({len(train)})" in message
    exported = dataset_edit.export(draft)
    assert read_rows(exported["value"]) == draft.rows and exported["visible"]


def test_every_edit_reads_as_a_change_of_the_draft_state():
    """Gradio hashes a gr.State's value before and after each event that writes it (the draft has
    .change listeners); a Draft must survive that hashing, and an edit must change the hash."""
    from gradio.utils import deep_hash

    draft = Draft(name="d", shape="text", rows=[{"text": "a"}])
    edited = draft.edit([{"text": "b"}], "edit")
    assert deep_hash(draft) == deep_hash(draft) != deep_hash(edited)


def test_a_refused_upload_toast_is_short_and_closes_while_the_whole_list_goes_to_the_message_line(workspace, tmp_path):
    path = tmp_path / "many.jsonl"
    path.write_text("".join('{"instruction": "q", "output": ""}\n' for _ in range(8)), encoding="utf-8")
    report = dataset_edit.Report()
    with pytest.raises(gr.Error) as caught:
        dataset_edit.upload(str(path), report)
    assert caught.value.duration == ERROR_SECONDS  # it closes by itself
    assert caught.value.message.count("row ") == dataset_edit.SHOWN_PROBLEMS and "5 more" in caught.value.message
    assert all(f"row {number}" in dataset_edit.show_report(report) for number in range(1, 9))
    assert not list((workspace / "datasets").glob("*"))


def interactive(updates: list) -> list[bool]:
    return [update["interactive"] for update in updates]


def test_picking_a_sample_opens_it_and_clearing_the_pick_does_nothing():
    draft, name, shape, search, page, columns, numbers, saved, sample = dataset_edit.open_sample("identity.jsonl")
    assert (name, shape, search, page, numbers) == ("identity", "instruction", "", 1, "") and len(draft.rows) == 40
    assert saved is None and sample == gr.skip()  # the workspace pick is cleared, the sample stays picked
    for empty in (None, ""):
        assert all(value == gr.skip() for value in dataset_edit.open_sample(empty))  # no error, nothing changes
        assert all(value == gr.skip() for value in dataset_edit.open_saved(empty))
    assert dataset_edit.describe_sample(None) == ""


def test_no_control_acts_on_nothing():
    outputs = dataset_edit.controls(Draft(), "")
    assert not any(interactive(outputs))  # nothing open: every control is off
    draft = dataset_edit.open_sample("identity.jsonl")[0]
    save, undo, *editable, delete, copies, show, split, export = dataset_edit.controls(draft, "")
    assert save["interactive"] and save["variant"] == "secondary"  # nothing unsaved yet
    assert not undo["interactive"] and all(interactive(editable)) and all(interactive([copies, show, split, export]))
    assert not delete["interactive"] and delete["variant"] == "secondary"  # no row numbers typed
    delete = dataset_edit.controls(draft, "3, 5-7")[-5]
    assert delete["interactive"] and delete["variant"] == "stop"
    edited = dataset_edit.add_row(draft)[0]
    save, undo = dataset_edit.controls(edited, "")[:2]
    assert save["variant"] == "primary" and undo["interactive"]
    emptied = dataset_edit.delete(dataset_edit.create("blank", "text")[0], "1")[0]
    *_, copies, show, split, export = dataset_edit.controls(emptied, "")
    assert not any(interactive([copies, show, split, export])) and dataset_edit.controls(emptied, "")[0]["interactive"]


def test_every_shipped_sample_is_described_in_english_and_chinese():
    for name in editing.sample_files():
        key = f"dataset.about.{Path(name).stem}"
        assert EN.get(key) and ZH.get(key), name
        assert dataset_edit.describe_sample(name) == EN[key]
        assert dataset_edit.describe_sample(name, zh_page()) == ZH[key]
        assert re.search(r"[\u4e00-\u9fff]", ZH[key])


def test_a_chinese_page_gets_chinese_messages(workspace, tmp_path, tiny_tokenizer):
    zh = zh_page()
    draft, _, shape, *_ = dataset_edit.open_sample("identity.jsonl", zh)
    assert shape == ZH["dataset.shape_name.instruction"]
    problems = dataset_checks.check(draft, zh)[2]
    assert problems.startswith("⚠ 数据中还留有占位符") and "{{name}}（40 行）" in problems
    broken = draft.edit([{"instruction": "Hi", "input": "", "output": ""}], "edit")
    assert "第 1 行，字段 'output'：为空" in dataset_checks.check(broken, zh)[2]
    assert dataset_checks.check(broken, zh)[-1] == ZH["dataset.unsaved"]
    assert dataset_edit.undo(broken, zh)[1] == ZH["dataset.undone_edit"]
    with pytest.raises(gr.Error) as caught:
        dataset_edit.save(broken, "broken", zh)
    assert "有 1 个问题" in caught.value.message and caught.value.title == ZH["app.error_title"]
    with pytest.raises(gr.Error, match="第 41 行不存在"):
        dataset_edit.delete(draft, "41", zh)
    assert dataset_edit.save(draft, "identity", zh)[2].startswith(ZH["dataset.saved_to"])
    assert dataset_edit.replace_all(draft, "{{name}}", "Ada", [], zh)[1].startswith(ZH["dataset.cells_changed"])
    assert dataset_edit.show_table(draft, "", 1, zh)[3].startswith(ZH["dataset.position"])
    plot = dataset_checks.count_tokens(draft, 512, zh, tokenizer=tiny_tokenizer)[0]
    assert (plot["x_title"], plot["y_title"]) == (ZH["dataset.axis_tokens"], ZH["dataset.axis_rows"])
    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "Say hi", "output": ""}\n', encoding="utf-8")
    report = dataset_edit.Report()
    with pytest.raises(gr.Error):
        dataset_edit.upload(str(path), report, zh)
    assert "第 1 行，字段 'output'：为空" in dataset_edit.show_report(report, zh)
