"""Tests for studio.editing: drafts and undo, checks, duplicates, token lengths and bins, opening and saving files."""

from __future__ import annotations

import pytest

from studio import editing, table
from studio.datafile import read_rows
from studio.editing import Draft
from studio.shapes import DatasetError

ROWS = [
    {"instruction": "Who are you?", "input": "", "output": "I am {{name}}."},
    {"instruction": "Translate", "input": "hello", "output": "bonjour"},
    {"instruction": "Who are you?", "input": "", "output": "{{name}}, made by {{author}}."},
]


def test_bad_json_cells_are_named_by_row():
    rows = [{"messages": '[{"role": "user", "content": "Hi"'}]  # a chat cell as typed, not parsed
    problems = editing.find_problems(rows, "chat")
    assert [(problem.row, problem.field) for problem in problems] == [(1, "messages")]
    assert "not valid JSON" in problems[0].message


def test_a_draft_equals_only_itself_and_every_edit_is_a_new_one():
    draft = Draft(name="d", shape="text", rows=[{"text": "a"}])
    same_fields = Draft(name="d", shape="text", rows=[{"text": "a"}])
    edited = draft.edit([{"text": "b"}], "edit")
    assert draft == draft and hash(draft) == hash(draft)
    assert draft != same_fields and edited is not draft and draft.rows == [{"text": "a"}]
    assert len({draft, same_fields, edited}) == 3


def test_undo_restores_the_rows_before_each_change():
    draft = Draft(name="demo", rows=ROWS)
    edited = draft.edit(table.delete_rows(ROWS, [1]), "delete").edit([], "clear")
    assert not edited.saved and edited.rows == []
    once, change = edited.undo()
    assert change == "clear" and once.rows == ROWS[1:]
    assert once.undo()[0].rows == ROWS
    with pytest.raises(ValueError, match="Nothing to undo"):
        draft.undo()
    many = draft
    for count in range(editing.UNDO_LIMIT + 5):
        many = many.edit([{"text": str(count)}], "edit")
    assert len(many.history) == editing.UNDO_LIMIT


def test_duplicates_compare_the_prompt_only():
    assert editing.duplicate_groups(ROWS, "instruction") == [[1, 3]]
    texts = [{"text": "a"}, {"text": "b"}, {"text": "a"}, {"text": "a"}]
    assert editing.duplicate_groups(texts, "text") == [[1, 3, 4]]
    pairs = [{"prompt": "q", "chosen": "a", "rejected": "b"}, {"prompt": "q", "chosen": "c", "rejected": "d"}]
    assert editing.duplicate_groups(pairs, "preference") == [[1, 2]]
    assert editing.duplicate_groups([{"instruction": "q"}, {"instruction": "q"}], "instruction") == []  # broken rows


def test_histogram_bins_split_at_the_cutoff():
    lengths = [12, 18, 25, 40, 41, 90]
    bins = editing.histogram_bins(lengths, cutoff=40, bin_count=4)
    assert [(item["start"], item["end"]) for item in bins] == [(0, 20), (20, 40), (40, 60), (60, 80), (80, 100)]
    assert sum(item["rows"] for item in bins) == len(lengths)
    assert [item["over"] for item in bins] == [False, False, True, True, True]
    assert sum(item["rows"] for item in bins if item["over"]) == 2  # 41 and 90; 40 fits exactly
    bins = editing.histogram_bins([105, 157], cutoff=130, bin_count=20)
    assert bins[0]["start"] == 100 and any(item["start"] == 130 for item in bins)  # starts near the shortest row
    assert [item["end"] for item in editing.histogram_bins([1, 2, 3], cutoff=2, bin_count=3)] == [1, 2, 3]
    assert editing.histogram_bins([], 512) == []


def test_token_lengths_skip_rows_with_problems(tiny_tokenizer):
    rows = [*ROWS, {"instruction": "", "input": "", "output": "x"}]
    problems = editing.find_problems(rows, "instruction")
    lengths = editing.token_lengths(rows, "instruction", tiny_tokenizer, problems)
    assert len(lengths) == 3 and all(length > 5 for length in lengths)


def test_model_view_marks_the_reply_and_names_bad_rows(tiny_tokenizer):
    pieces = editing.model_view(ROWS, "instruction", 2, tiny_tokenizer)
    assert "".join(text for text, trained in pieces if trained) == "bonjour<|im_end|>\n"
    assert "Translate\n\nhello" in "".join(text for text, trained in pieces if not trained)
    assert editing.model_view([{"text": "plain"}], "text", 1, tiny_tokenizer) == [("plain<|im_end|>", True)]
    with pytest.raises(ValueError, match="Row 4 does not exist"):
        editing.model_view(ROWS, "instruction", 4, tiny_tokenizer)
    with pytest.raises(ValueError, match="row 1, field 'output': is missing"):
        editing.model_view([{"instruction": "q"}], "instruction", 1, tiny_tokenizer)


def test_save_split_and_export_refuse_problems(workspace, tmp_path):
    draft, path = editing.save(Draft(name="ignored", rows=ROWS), "../../escape me")
    assert path == workspace / "datasets" / "escape-me.jsonl" and draft.saved and draft.name == "escape-me"
    assert read_rows(path) == ROWS
    editing.save(draft.edit(ROWS[:1], "delete"), "escape-me")
    assert read_rows(path) == ROWS[:1]
    assert path.with_name("escape-me.jsonl.prev").read_text(encoding="utf-8").count("\n") == len(ROWS)
    train_path, train_rows, validation_path, validation_rows = editing.split(Draft(name="ids", rows=ROWS * 4), 0.25, 1)
    assert (train_path.name, train_rows, validation_path.name, validation_rows) == (
        "ids-train.jsonl", 9, "ids-validation.jsonl", 3)
    assert len(read_rows(validation_path)) == 3
    assert read_rows(editing.export(draft, tmp_path)) == ROWS
    broken = Draft(name="broken", rows=[{"instruction": "q", "output": ""}])
    with pytest.raises(DatasetError, match="row 1, field 'output'"):
        editing.save(broken, "broken")
    assert not (workspace / "datasets" / "broken.jsonl").exists()


def test_new_open_and_list(workspace):
    draft = editing.new_draft("my data", "chat")
    assert draft.name == "my-data" and draft.rows == [table.BLANK_ROWS["chat"]]
    assert draft.rows[0] is not table.BLANK_ROWS["chat"]
    with pytest.raises(ValueError, match="Unknown dataset shape"):
        editing.new_draft("x", "poems")
    assert "identity.jsonl" in editing.sample_files() and "README.md" not in editing.sample_files()
    text = editing.open_file(editing.sample_path("wiki-snippets.txt"))
    assert text.shape == "text" and text.name == "wiki-snippets" and text.saved
    assert editing.sample_path("../../README.md") == editing.SAMPLES_DIR / "README.md"  # never leaves the folder
    editing.save(text, "wiki")
    assert editing.workspace_datasets() == ["wiki"]


def test_an_upload_reads_the_file_once_and_opens_the_copy_it_wrote(workspace, tmp_path, monkeypatch):
    from studio import datafile

    source = tmp_path / "pairs.jsonl"
    source.write_text(editing.sample_path("concise-preference.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    reads = []
    monkeypatch.setattr(datafile, "_decode", lambda path, decode=datafile._decode: reads.append(path) or decode(path))
    draft = editing.upload_file(source)
    assert reads == [source]
    saved = workspace / "datasets" / "pairs.jsonl"
    assert draft.name == "pairs" and draft.shape == "preference" and draft.saved
    reopened = editing.open_file(saved)
    assert (draft.rows, draft.source) == (reopened.rows, reopened.source) and read_rows(saved) == read_rows(source)


def test_a_split_of_a_long_name_keeps_its_suffixes_and_never_replaces_a_file(workspace):
    name = "评论" * 20  # 120 bytes: a suffix cut off would put both halves on the dataset itself
    draft, path = editing.save(Draft(name=name, rows=ROWS * 5), name)
    original = path.read_bytes()
    first = editing.split(draft, 0.2, 1)
    second = editing.split(draft, 0.2, 1)
    assert path.read_bytes() == original
    assert first[0].stem.endswith("-train") and first[2].stem.endswith("-validation")
    assert second[0].stem.endswith("-train-2") and second[2].stem.endswith("-validation-2")
    assert len({first[0], first[2], second[0], second[2], path}) == 5
    assert all(len(item.name.encode("utf-8")) <= 255 for item in (first[0], first[2], second[0], second[2]))


def test_a_save_replaces_only_the_file_the_draft_opened_as_it_was(workspace):
    first, path = editing.save(Draft(name="shared", rows=ROWS), "shared")
    other = editing.open_file(path)
    first, _ = editing.save(first.edit(ROWS[:1], "delete"), "shared")  # the opener saves again: fine
    with pytest.raises(ValueError, match="saved again since you opened it"):
        editing.save(other, "shared")
    with pytest.raises(ValueError, match="already in the workspace.*shared-2"):
        editing.save(Draft(name="new", rows=ROWS), "shared")
    assert read_rows(path) == ROWS[:1]


def test_feedback_rows_open_as_prompt_completion_label_where_that_loses_nothing(workspace, tmp_path):
    from studio.messages import feedback_parts
    from studio.shapes import validate
    from tests.conftest import FEEDBACK_ROWS, write_jsonl

    draft = editing.open_file(write_jsonl(tmp_path / "kto.jsonl", FEEDBACK_ROWS))
    assert draft.shape == "feedback" and validate(draft.rows, "feedback") == []
    assert [feedback_parts(row) for row in draft.rows] == [feedback_parts(row) for row in FEEDBACK_ROWS]
    assert draft.rows[1] == {"prompt": "Say hi", "completion": "Go away.", "label": False}
    assert draft.rows[3] == {"prompt": "Hi", "completion": "Whatever.", "label": False}  # LLaMA-Factory's sharegpt row
    assert isinstance(draft.rows[2]["prompt"], list)  # a system turn keeps the prompt a conversation
    assert draft.rows[4] == FEEDBACK_ROWS[4]  # alpaca keeps instruction and input apart
    assert draft.columns[:3] == ["prompt", "completion", "label"]
    broken = {"prompt": "q", "label": "yes", "completion": "a"}
    assert editing.editable_feedback(broken) is broken
    # One prompt with a good and a bad answer is KTO's data, not a duplicate; the same answer twice is.
    assert editing.duplicate_groups([FEEDBACK_ROWS[0], FEEDBACK_ROWS[1], FEEDBACK_ROWS[0]], "feedback") == [[1, 3]]
    new = editing.new_draft("votes", "feedback")
    assert new.rows == [{"prompt": "", "completion": "", "label": True}]
    filled = new.edit([{"prompt": "Say hi", "completion": "Hi!", "label": True}], "edit")
    assert editing.save(filled, "votes")[1].name == "votes.jsonl"
