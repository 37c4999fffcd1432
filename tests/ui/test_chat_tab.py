"""The Chat tab's handlers on the tiny run: streaming, stop, few-shot examples, one question at a time, captions,
regenerate, the buttons' states, Chinese, and the `chat` API endpoint."""

from __future__ import annotations

import re
from types import SimpleNamespace

import gradio as gr
import pandas as pd
import pytest

from studio import generate
from studio.jobs import JobManager
from studio.ui.common import StopSignal
from studio.ui import chat_tab
from studio.ui.lang import LANGUAGE_COOKIE

ELEMENT_IDS = ("chat-model", "chat-history", "chat-message", "chat-send", "chat-stop", "chat-clear", "chat-temperature",
               "chat-top-p", "chat-top-k", "chat-max-new-tokens", "chat-repetition-penalty", "chat-seed",
               "chat-system-prompt", "chat-examples", "chat-add-example", "chat-regenerate", "chat-one-question")
# temperature, top-p, top-k, max new tokens, repetition penalty, seed
GREEDY = (0, 0.9, 50, 6, 1.0, 0)
SAMPLED = (0.7, 0.9, 50, 6, 1.0, 0)
ZH = SimpleNamespace(cookies={LANGUAGE_COOKIE: "zh"}, headers={})
EARLIER = [{"role": "user", "content": [{"type": "text", "text": "hello"}]}, {"role": "assistant", "content": "hi"}]


@pytest.fixture
def model_input(monkeypatch) -> list:
    """The messages each answer was generated from, in order (the model still answers)."""
    seen = []
    real = generate.stream_chat

    def recording(model, tokenizer, messages, settings, stop=None, speed=None):
        seen.append(messages)
        yield from real(model, tokenizer, messages, settings, stop, speed)

    monkeypatch.setattr(generate, "stream_chat", recording)
    return seen


def test_tab_builds_with_its_element_ids_and_the_chat_endpoint(workspace):
    with gr.Blocks() as demo:
        chat_tab.build(JobManager())
    ids = {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    assert set(ELEMENT_IDS) <= ids
    assert any(dependency.api_name == "chat" for dependency in demo.fns.values())


def test_answer_streams_into_the_conversation_and_the_box_empties(trained_run):
    steps = list(chat_tab.respond("the cat sat", EARLIER, "tiny-lora", "Be brief.", None, *GREEDY, True, stop=StopSignal()))
    conversation, box = steps[-1]
    assert box == "" and conversation[2] == {"role": "user", "content": "the cat sat"}
    assert conversation[-1]["role"] == "assistant" and conversation[-1]["content"]
    assert len(steps) > 2  # it streamed: the answer grew over several updates


def test_stop_ends_the_answer_early(trained_run):
    stop = StopSignal()
    answer = chat_tab.respond("the cat sat", [], "tiny-lora", "", None, 1.0, 1.0, 0, 64, 1.0, 0, True, stop=stop)
    next(answer)
    next(answer)
    stop.set()
    remaining = list(answer)
    assert len(remaining) <= 1


def test_errors_reach_the_user(trained_run):
    with pytest.raises(gr.Error, match="Type a question"):
        list(chat_tab.respond("  ", [], "tiny-lora", "", None, *GREEDY, True, stop=StopSignal()))
    with pytest.raises(gr.Error, match="Example 1 needs both"):
        list(chat_tab.respond("hi", [], "tiny-lora", "", [["q", ""]], *GREEDY, True, stop=StopSignal()))


def test_examples_are_added_and_removed():
    table, question, answer = chat_tab.add_example(pd.DataFrame(columns=chat_tab.EXAMPLE_COLUMNS), "2+2?", "4")
    table, _, _ = chat_tab.add_example(table, "3+3?", "6")
    assert table.values.tolist() == [["2+2?", "4"], ["3+3?", "6"]] and question == answer == ""
    assert chat_tab.remove_last_example(table).values.tolist() == [["2+2?", "4"]]
    with pytest.raises(gr.Error, match="Write an example"):
        chat_tab.add_example(table, "", "")


def test_model_list_keeps_a_choice_that_is_still_there(trained_run):
    assert chat_tab.model_update(JobManager(), "tiny-lora")["value"] == "tiny-lora"
    assert chat_tab.model_update(JobManager(), "gone")["value"] == "embedded"


def test_chat_endpoint_answers_through_the_gradio_api(trained_run):
    from gradio_client import Client

    with gr.Blocks() as demo:
        chat_tab.build(JobManager())
    demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        examples = {"headers": list(chat_tab.EXAMPLE_COLUMNS), "data": [["the sky", "is blue"]]}
        # A client written before "one question at a time" leaves it out and gets the page's default.
        conversation, box = client.predict("the cat sat", [], "tiny-lora", "", examples, *GREEDY, api_name="/chat")
        again = client.predict(conversation, "tiny-lora", "", examples, *GREEDY, False, api_name="/regenerate")
    finally:
        demo.close()
    assert box == "" and conversation[-1]["role"] == "assistant"
    assert len(again) == len(conversation) + 1 and again[-1]["role"] == "assistant"


def test_one_question_at_a_time_sends_no_earlier_turn_but_keeps_them_on_the_page(trained_run, model_input):
    answer = chat_tab.respond("the cat sat", EARLIER, "tiny-lora", "", None, *GREEDY, True, stop=StopSignal())
    conversation, _ = list(answer)[-1]
    assert model_input[-1] == [{"role": "user", "content": "the cat sat"}]
    assert [message["role"] for message in conversation] == ["user", "assistant", "user", "assistant"]
    list(chat_tab.respond("the cat sat", EARLIER, "tiny-lora", "", None, *GREEDY, False, stop=StopSignal()))
    assert [message["content"] for message in model_input[-1]] == ["hello", "hi", "the cat sat"]


def test_each_reply_is_captioned_and_captions_never_reach_the_model(trained_run, model_input):
    answer = chat_tab.respond("the cat sat", [], "tiny-lora", "", None, *SAMPLED, False, stop=StopSignal())
    conversation, _ = list(answer)[-1]
    reply = conversation[-1]["content"]
    # The settings, then what the answer cost: precision, weights' memory and (past its first token) its speed.
    assert re.search(r"\n\n<sub>tiny-lora · temperature 0\.7 · top-p 0\.9 · top-k 50 · seed 0 · fp32 · \d+ MB of weights"
                     r"( · [\d.]+ tokens/s)?</sub>\Z", reply)
    conversation, _ = list(chat_tab.respond("the sky", conversation, "tiny-lora", "", None, *GREEDY, False,
                                            stop=StopSignal(), request=ZH))[-1]
    assert conversation[1]["content"] == reply  # the page keeps the first reply's caption
    assert re.search(r"<sub>tiny-lora · 温度 0（贪心） · fp32 · 权重 \d+ MB( · [\d.]+ tokens/s)?</sub>\Z",
                     conversation[-1]["content"])
    sent = model_input[-1]
    assert sent[1]["role"] == "assistant" and sent[1]["content"] == reply.rsplit("\n\n<sub>", 1)[0]
    assert not any("<sub>" in message["content"] for message in sent)


def test_regenerate_adds_an_answer_with_the_new_settings_and_keeps_the_old_one(trained_run, model_input):
    first, _ = list(chat_tab.respond("the cat sat", EARLIER, "tiny-lora", "", None, *GREEDY, False, stop=StopSignal()))[-1]
    again = list(chat_tab.regenerate(first, "tiny-lora", "", None, *SAMPLED, False, stop=StopSignal()))[-1]
    assert again[:-1] == first and again[-1]["role"] == "assistant"
    assert "temperature 0.7" in again[-1]["content"] and "temperature 0 (greedy)" in first[-1]["content"]
    # The model reads the turns before the question again, not the answer being replaced.
    assert [message["content"] for message in model_input[-1]] == ["hello", "hi", "the cat sat"]
    # A conversation goes on from the newest answer; one question at a time sends the question alone.
    list(chat_tab.respond("the sky", again, "tiny-lora", "", None, *GREEDY, False, stop=StopSignal()))
    newest = again[-1]["content"].rsplit("\n\n<sub>", 1)[0]
    assert [message["content"] for message in model_input[-1]] == ["hello", "hi", "the cat sat", newest, "the sky"]
    list(chat_tab.regenerate(again, "tiny-lora", "", None, *GREEDY, True, stop=StopSignal()))
    assert model_input[-1] == [{"role": "user", "content": "the cat sat"}]
    with pytest.raises(gr.Error, match="no question to answer again"):
        list(chat_tab.regenerate([], "tiny-lora", "", None, *GREEDY, True, stop=StopSignal()))


def test_stop_is_red_and_live_only_while_an_answer_streams():
    with gr.Blocks() as demo:
        chat_tab.build(JobManager())
    buttons = {block.elem_id: block for block in demo.blocks.values() if isinstance(block, gr.Button)}
    assert not buttons["chat-stop"].interactive and buttons["chat-stop"].variant == "secondary"
    assert not buttons["chat-regenerate"].interactive and not buttons["chat-clear"].interactive
    message, send, again, stop, clear = chat_tab.answering()
    assert stop == gr.update(variant="stop", interactive=True)
    assert not message["interactive"] and not send["interactive"] and not again["interactive"] and clear["interactive"]
    message, send, again, stop, clear = chat_tab.settled(EARLIER)
    assert stop == gr.update(variant="secondary", interactive=False)
    assert message["interactive"] and send["interactive"] and again["interactive"] and clear["interactive"]
    _, _, again, _, clear = chat_tab.settled([])
    assert not again["interactive"] and not clear["interactive"]
    conversation, *states = chat_tab.clear_conversation(StopSignal())
    assert conversation == [] and states == chat_tab.settled([])


def test_the_tab_speaks_chinese(trained_run):
    labels = [label for label, _ in chat_tab.model_update(JobManager(), "tiny-lora", ZH)["choices"]]
    assert labels[0] == "embedded（基础模型）" and "tiny-lora · lora · reviews.jsonl" in labels
    with pytest.raises(gr.Error, match="请先输入问题") as raised:
        list(chat_tab.respond("  ", [], "tiny-lora", "", None, *GREEDY, True, stop=StopSignal(), request=ZH))
    assert raised.value.title == "错误"
    with pytest.raises(gr.Error, match="temperature 必须是 0 到 2 之间的数字"):
        list(chat_tab.respond("hi", [], "tiny-lora", "", None, 3, 0.9, 50, 6, 1.0, 0, True, stop=StopSignal(), request=ZH))
    with pytest.raises(gr.Error, match="还没有可以重新回答的问题"):
        list(chat_tab.regenerate([], "tiny-lora", "", None, *GREEDY, True, stop=StopSignal(), request=ZH))
