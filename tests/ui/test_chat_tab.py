"""The Chat tab's handlers on the tiny run: streaming, stop, few-shot examples, and the `chat` API endpoint."""

from __future__ import annotations

import gradio as gr
import pandas as pd
import pytest

from studio.chat import StopSignal
from studio.jobs import JobManager
from studio.ui import chat_tab

ELEMENT_IDS = ("chat-model", "chat-history", "chat-message", "chat-send", "chat-stop", "chat-clear", "chat-temperature",
               "chat-top-p", "chat-top-k", "chat-max-new-tokens", "chat-repetition-penalty", "chat-seed",
               "chat-system-prompt", "chat-examples", "chat-add-example")
# temperature, top-p, top-k, max new tokens, repetition penalty, seed
GREEDY = (0, 0.9, 50, 6, 1.0, 0)


def test_tab_builds_with_its_element_ids_and_the_chat_endpoint(workspace):
    with gr.Blocks() as demo:
        chat_tab.build(JobManager())
    ids = {block.elem_id for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    assert set(ELEMENT_IDS) <= ids
    assert any(dependency.api_name == "chat" for dependency in demo.fns.values())


def test_answer_streams_into_the_conversation_and_the_box_empties(trained_run):
    history = [{"role": "user", "content": [{"type": "text", "text": "hello"}]}, {"role": "assistant", "content": "hi"}]
    steps = list(chat_tab.respond("the cat sat", history, "tiny-lora", "Be brief.", None, *GREEDY, StopSignal()))
    conversation, box = steps[-1]
    assert box == "" and conversation[2] == {"role": "user", "content": "the cat sat"}
    assert conversation[-1]["role"] == "assistant" and conversation[-1]["content"]
    assert len(steps) > 2  # it streamed: the answer grew over several updates


def test_stop_ends_the_answer_early(trained_run):
    stop = StopSignal()
    answer = chat_tab.respond("the cat sat", [], "tiny-lora", "", None, 1.0, 1.0, 0, 64, 1.0, 0, stop)
    next(answer)
    next(answer)
    stop.set()
    remaining = list(answer)
    assert len(remaining) <= 1


def test_errors_reach_the_user(trained_run):
    with pytest.raises(gr.Error, match="Type a question"):
        list(chat_tab.respond("  ", [], "tiny-lora", "", None, *GREEDY, StopSignal()))
    with pytest.raises(gr.Error, match="Example 1 needs both"):
        list(chat_tab.respond("hi", [], "tiny-lora", "", [["q", ""]], *GREEDY, StopSignal()))


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
        conversation, box = client.predict("the cat sat", [], "tiny-lora", "", examples, *GREEDY, api_name="/chat")
    finally:
        demo.close()
    assert box == "" and conversation[-1]["role"] == "assistant"
