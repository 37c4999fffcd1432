"""Chat: the message list (system, few-shot, history, question), model choices, settings, streaming."""

from __future__ import annotations

import json

import pytest

from studio import chat
from studio.jobs import JobManager, RunInfo
from studio.sampling import generation_settings


def test_messages_go_system_then_examples_then_history_then_question():
    history = [{"role": "user", "metadata": None, "content": [{"type": "text", "text": "hi"}], "options": None},
               {"role": "assistant", "metadata": None, "content": [{"type": "text", "text": "hello"}], "options": None}]
    messages = chat.build_messages(" Be brief. ", [("2+2?", "4")], history, "3+3?")
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"},
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "3+3?"},
    ]
    assert chat.build_messages("", [], [], "q") == [{"role": "user", "content": "q"}]


def test_example_pairs_skip_blank_rows_and_name_a_half_filled_one():
    assert chat.example_pairs([["a", "b"], [None, ""], ["  c ", "d"]]) == [("a", "b"), ("c", "d")]
    assert chat.example_pairs(None) == [] and chat.example_pairs([]) == []
    with pytest.raises(ValueError, match="Example 2 needs both"):
        chat.example_pairs([["a", "b"], ["c", ""]])


def test_model_choices_list_bases_finished_runs_and_merged_exports(workspace):
    for name, status in (("done", "finished"), ("stopped", "aborted")):
        run = workspace / "runs" / name
        (run / "adapter").mkdir(parents=True)
        (run / "config.yaml").write_text("method: lora\nbase_model: /models/other\ndataset: d.jsonl\n")
        (run / "summary.json").write_text(json.dumps({"status": status}))
    merged = workspace / "exports" / "done-merged"
    merged.mkdir(parents=True)
    (merged / "config.json").write_text("{}")
    values = [value for _, value in chat.model_choices(JobManager().list_runs())]
    assert values == ["embedded", "/models/other", "done", "exports/done-merged"]
    assert chat.model_source("done") == (None, str(workspace / "runs" / "done"))
    assert chat.model_source("exports/done-merged") == (None, str(merged))
    assert chat.model_source("embedded") == ("embedded", None)
    assert chat.model_source(None) == ("embedded", None)
    with pytest.raises(ValueError, match="not a plain export name"):
        chat.model_source("exports/../../secret")
    for outside in ("/etc", "/models/elsewhere", "../runs/done", "~/.ssh"):
        with pytest.raises(ValueError, match="outside the folders|not a model the app knows"):
            chat.model_source(outside)


def test_finished_runs_need_saved_weights(tmp_path):
    with_weights, without = tmp_path / "a", tmp_path / "b"
    (with_weights / "model").mkdir(parents=True)
    without.mkdir()
    runs = [RunInfo("a", with_weights, "finished"), RunInfo("b", without, "finished")]
    assert [run.name for run in chat.finished_runs(runs)] == ["a"]


def test_stream_reply_grows_the_answer_at_the_end_of_the_conversation(trained_run):
    settings = generation_settings(0, 0.9, 50, 6, 1.0, 0)
    history = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]
    steps = list(chat.stream_reply("tiny-lora", "", [("the sky", "is blue")], history, "the cat sat", settings))
    assert steps[0][-1] == {"role": "assistant", "content": ""}
    final = steps[-1]
    assert [message["role"] for message in final] == ["user", "assistant", "user", "assistant"]
    assert final[2]["content"] == "the cat sat" and final[-1]["content"]
    # Greedy decoding is repeatable.
    assert list(chat.stream_reply("tiny-lora", "", [("the sky", "is blue")], history, "the cat sat", settings))[-1] == final
    with pytest.raises(ValueError, match="question"):
        next(chat.stream_reply("tiny-lora", "", [], [], "  ", settings))


def test_the_model_reads_no_caption_and_only_the_latest_answer_to_a_question():
    history = [{"role": "user", "content": "hi"},
               {"role": "assistant", "content": chat.captioned("hello", "embedded (base) · temperature 0 (greedy)")},
               {"role": "assistant", "content": [{"type": "text", "text": chat.captioned("hey", "a <b> & c")}]},
               {"role": "user", "content": "bye"}]
    assert history[2]["content"][0]["text"].endswith("<sub>a &lt;b&gt; &amp; c</sub>")
    assert chat.history_messages(history) == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hey"},
                                              {"role": "user", "content": "bye"}]
    assert [message["content"] for message in chat.thread_messages(history)][1].endswith("</sub>")
    assert chat.last_question(history) == (3, "bye")
    with pytest.raises(ValueError, match="no question"):
        chat.last_question([{"role": "assistant", "content": "hi"}])
    # An answer that only looks like a caption in the middle is the model's own text and stays.
    assert chat.without_caption("a\n\n<sub>x</sub>\nmore") == "a\n\n<sub>x</sub>\nmore"


def test_model_names_mark_the_base(trained_run):
    assert chat.model_name("tiny-lora") == "tiny-lora"
    assert chat.model_name(None, "{model}（基础模型）") == "embedded（基础模型）"
    assert chat.model_name("exports/x") == "exports/x"
