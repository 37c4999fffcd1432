"""The Chat tab: talk to the base model or a finished run, with the sampling settings in view.

Streaming; a system prompt and few-shot examples go before each question, so in-context
learning can be set beside fine-tuning. "One question at a time" (on at first) answers each
message without the turns before it, so two settings tried in one thread do not share context;
off, it is a conversation. Each reply is captioned with the model and settings that made it,
and Regenerate answers the last question again with the settings as they are now, beside the
earlier answer. The conversation lives in the browser session's Chatbot; Stop ends an answer
early. The send event is the `chat` API endpoint (message, history, model, system prompt,
examples, the settings in widget order, then one question at a time and the precision, which a
client may leave out to get the page's defaults, on and auto):

    examples = {"headers": ["question", "answer"], "data": [["2+2?", "4"]]}
    Client(url).predict("Hello", [], "embedded", "", examples, 0.7, 0.9, 50, 256, 1.0, 0, False, api_name="/chat")

Regenerate is the `regenerate` endpoint: the same, without the message.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pandas as pd

from studio.chat import (example_pairs, model_choices, model_name, stream_again,
                         stream_reply, thread_messages)
from studio.sampling import PRECISION_CHOICES, generation_settings
from studio.config import EMBEDDED_MODEL
from studio.jobs import JobManager
from studio.ui.serve_panel import build as build_serve_panel
from studio.ui.common import (StopSignal, bind, precision_dropdown, run_name, settings_widgets, speed_caption,
                              table_rows, user_errors)
from studio.ui.i18n import i18n
from studio.ui.lang import say

# Gradio shows Dataframe headers untranslated, so they are plain field names.
EXAMPLE_COLUMNS = ("question", "answer")
# Answers share the CPU cores; more at once only slows each one down and holds more memory.
CHAT_CONCURRENCY = 4


def model_update(manager: JobManager, current: str | None = None, request: gr.Request | None = None) -> dict:
    """The model list as it is now on disk, keeping the choice when it is still there; labels in the page's
    language."""
    choices = model_choices(manager.list_runs(), say(request, "chat.base_label"))
    values = [value for _, value in choices]
    return gr.update(choices=choices, value=current if current in values else EMBEDDED_MODEL)


def caption(model: str | None, settings, request: gr.Request | None) -> str:
    """Which model and settings made a reply, e.g. "embedded (base) · temperature 0.7 · top-p 0.9 · top-k 50 ·
    seed 0". Greedy decoding (temperature 0) uses neither the sampling limits nor the seed, so it names none."""
    parts = [model_name(model, say(request, "chat.base_label"))]
    if settings.temperature <= 0:
        parts.append(say(request, "chat.caption.greedy"))
    else:
        parts += [say(request, "chat.caption.temperature", value=f"{settings.temperature:g}"),
                  say(request, "chat.caption.top_p", value=f"{settings.top_p:g}")]
        if settings.top_k:
            parts.append(say(request, "chat.caption.top_k", value=settings.top_k))
    if settings.repetition_penalty != 1:
        parts.append(say(request, "chat.caption.repetition_penalty", value=f"{settings.repetition_penalty:g}"))
    if settings.temperature > 0:
        parts.append(say(request, "chat.caption.random_seed") if settings.seed is None
                     else say(request, "chat.caption.seed", value=settings.seed))
    return " · ".join(parts)


@user_errors
def respond(message: str, history: list, model: str, system_prompt: str, examples, temperature, top_p, top_k,
            max_new_tokens, repetition_penalty, seed, one_question: bool = True, precision: str = PRECISION_CHOICES[0],
            stop: StopSignal | None = None, request: gr.Request | None = None):
    """Stream the answer into the conversation, captioned; the message box empties once the question is in."""
    settings = generation_settings(temperature, top_p, top_k, max_new_tokens, repetition_penalty, seed)
    if stop is not None:
        stop.clear()
    pairs = example_pairs(table_rows(examples))
    for conversation in stream_reply(model, system_prompt, pairs, history, message, settings, stop,
                                     bool(one_question), caption(model, settings, request), precision,
                                     lambda speed: speed_caption(speed, request)):
        yield conversation, ""


@user_errors
def regenerate(history: list, model: str, system_prompt: str, examples, temperature, top_p, top_k, max_new_tokens,
               repetition_penalty, seed, one_question: bool = True, precision: str = PRECISION_CHOICES[0],
               stop: StopSignal | None = None, request: gr.Request | None = None):
    """Answer the last question again with the settings as they are now; the new reply goes below the earlier one."""
    settings = generation_settings(temperature, top_p, top_k, max_new_tokens, repetition_penalty, seed)
    if stop is not None:
        stop.clear()
    yield from stream_again(model, system_prompt, example_pairs(table_rows(examples)), history, settings, stop,
                            bool(one_question), caption(model, settings, request), precision,
                            lambda speed: speed_caption(speed, request))


def has_question(history) -> bool:
    return any(message["role"] == "user" for message in thread_messages(history))


def answering() -> list:
    """(message, send, regenerate, stop, clear) while an answer streams: Stop is the one way on, red."""
    return [gr.update(interactive=False), gr.update(interactive=False), gr.update(interactive=False),
            gr.update(variant="stop", interactive=True), gr.update(interactive=True)]


def settled(history) -> list:
    """(message, send, regenerate, stop, clear) between answers: Regenerate and Clear once there is something
    to act on; Stop has nothing to stop."""
    return [gr.update(interactive=True), gr.update(interactive=True), gr.update(interactive=has_question(history)),
            gr.update(variant="secondary", interactive=False), gr.update(interactive=bool(history))]


def stop_answer(stop: StopSignal) -> None:
    stop.set()


def clear_conversation(stop: StopSignal) -> list:
    """An empty conversation, any answer still streaming stopped, and the buttons as they are with nothing asked."""
    stop.set()
    return [[], *settled([])]


@user_errors
def add_example(examples, question: str, answer: str) -> tuple:
    added = example_pairs(table_rows([[question, answer]]))
    if not added:
        raise ValueError("Write an example question and its answer, then add them.")
    return pd.DataFrame(example_pairs(table_rows(examples)) + added, columns=EXAMPLE_COLUMNS), "", ""


def remove_last_example(examples) -> pd.DataFrame:
    return pd.DataFrame(example_pairs(table_rows(examples))[:-1], columns=EXAMPLE_COLUMNS)


def open_run(manager: JobManager, run_path: str | None, request: gr.Request | None = None) -> tuple:
    """From the Train tab: this tab, talking to the run it followed."""
    return gr.Tabs(selected="chat"), model_update(manager, run_name(run_path), request)


def build(manager: JobManager, tab: gr.Tab | None = None) -> gr.Dropdown:
    """The tab's widgets and events; `tab`, when given, refreshes the model list each time it is opened.
    Returns the model field, which the Train tab's "Chat with it" sets."""
    page = SimpleNamespace(stop=gr.State(StopSignal()))
    with gr.Row():
        with gr.Column(scale=3):
            _conversation(page, manager)
        with gr.Column(scale=2):
            _options(page)
    _wire_models(page, manager, tab)
    _wire_conversation(page)
    build_serve_panel(page.model, page.precision, tab)  # the model picked here, over an OpenAI-compatible API
    return page.model


def _conversation(page: SimpleNamespace, manager: JobManager) -> None:
    """The model, the conversation, the message box, and Send / Regenerate / Stop / Clear."""
    page.refresh_models = gr.Button("↻", size="sm")
    page.model = gr.Dropdown(model_choices(manager.list_runs()), value=EMBEDDED_MODEL, allow_custom_value=True,
                             buttons=[page.refresh_models], label=i18n("chat.model"), info=i18n("chat.model_help"),
                             elem_id="chat-model")
    # Each reply in a bubble of its own, with its caption: a regenerated answer sits apart from the first.
    page.chatbot = gr.Chatbot(label=i18n("chat.conversation"), height=440, buttons=["copy", "copy_all"],
                              placeholder=i18n("chat.placeholder"), group_consecutive_messages=False,
                              elem_id="chat-history")
    with gr.Row():
        page.message = gr.Textbox(show_label=False, placeholder=i18n("chat.message_placeholder"), lines=1,
                                  max_lines=8, container=False, scale=5, elem_id="chat-message")
        page.send = gr.Button(i18n("chat.send"), variant="primary", size="md", scale=1, min_width=100,
                              elem_id="chat-send")
    with gr.Row():
        page.again = gr.Button(i18n("chat.regenerate"), size="md", interactive=False, elem_id="chat-regenerate")
        page.stop_button = gr.Button(i18n("chat.stop"), size="md", interactive=False, elem_id="chat-stop")
        page.clear = gr.Button(i18n("chat.clear"), size="md", interactive=False, elem_id="chat-clear")
    gr.Markdown(i18n("chat.regenerate_help"), elem_id="chat-regenerate-help")


def _options(page: SimpleNamespace) -> None:
    """Beside the conversation: one question at a time, the system prompt, the sampling settings, and examples."""
    page.one_question = gr.Checkbox(True, label=i18n("chat.one_question"), info=i18n("chat.one_question_help"),
                                    elem_id="chat-one-question")
    page.system_prompt = gr.Textbox(label=i18n("chat.system_prompt"), info=i18n("chat.system_prompt_help"),
                                    lines=2, elem_id="chat-system-prompt")
    page.settings = settings_widgets("chat")
    page.precision = precision_dropdown("chat-precision")
    with gr.Accordion(i18n("chat.examples"), open=False, elem_id="chat-examples-panel"):
        gr.Markdown(i18n("chat.examples_help"))
        page.examples = gr.Dataframe(pd.DataFrame(columns=EXAMPLE_COLUMNS), headers=list(EXAMPLE_COLUMNS),
                                     interactive=True, wrap=True, elem_id="chat-examples")
        with gr.Row():
            page.example_question = gr.Textbox(label=i18n("chat.example_question"), elem_id="chat-example-question")
            page.example_answer = gr.Textbox(label=i18n("chat.example_answer"), elem_id="chat-example-answer")
        with gr.Row():
            page.add = gr.Button(i18n("chat.add_example"), size="sm", elem_id="chat-add-example")
            page.remove = gr.Button(i18n("chat.remove_example"), size="sm", elem_id="chat-remove-example")


def _wire_models(page: SimpleNamespace, manager: JobManager, tab: gr.Tab | None) -> None:
    """The model list: refreshed by its button, on load (in the page's language) and when the tab is opened."""
    model = page.model
    refresh = bind(model_update, manager)
    page.refresh_models.click(refresh, inputs=model, outputs=model)
    # The labels ("embedded (base)") are written in the page's language once it is known.
    gr.on(triggers=None, fn=refresh, inputs=model, outputs=model, show_progress="hidden")
    if tab is not None:
        # A run that finished while another tab was open is offered without a click on the refresh button.
        tab.select(refresh, inputs=model, outputs=model, show_progress="hidden")


def _wire_conversation(page: SimpleNamespace) -> None:
    """Send, Regenerate, Stop and Clear, and the examples' Add and Remove."""
    chatbot, stop = page.chatbot, page.stop
    buttons = [page.message, page.send, page.again, page.stop_button, page.clear]
    answer_inputs = [page.model, page.system_prompt, page.examples, *page.settings, page.one_question, page.precision,
                     stop]
    # The buttons change first, so a second question cannot start while one is answered; after the answer (or its
    # error) they settle again.
    asked = gr.on([page.send.click, page.message.submit], answering, outputs=buttons, queue=False,
                  api_visibility="private")
    answer = asked.then(respond, inputs=[page.message, chatbot, *answer_inputs], outputs=[chatbot, page.message],
                        api_name="chat", concurrency_limit=CHAT_CONCURRENCY, concurrency_id="chat")
    answer.then(settled, inputs=chatbot, outputs=buttons, queue=False, api_visibility="private")
    again_asked = page.again.click(answering, outputs=buttons, queue=False, api_visibility="private")
    answer_again = again_asked.then(regenerate, inputs=[chatbot, *answer_inputs], outputs=chatbot,
                                    api_name="regenerate", concurrency_limit=CHAT_CONCURRENCY, concurrency_id="chat")
    answer_again.then(settled, inputs=chatbot, outputs=buttons, queue=False, api_visibility="private")
    page.stop_button.click(stop_answer, inputs=stop, queue=False, api_visibility="private")
    # The Clear button and the conversation's own bin both leave nothing for Regenerate or Clear to act on.
    gr.on([page.clear.click, chatbot.clear], clear_conversation, inputs=stop, outputs=[chatbot, *buttons],
          cancels=[answer, answer_again], queue=False, api_visibility="private")
    page.add.click(add_example, inputs=[page.examples, page.example_question, page.example_answer],
                   outputs=[page.examples, page.example_question, page.example_answer])
    page.remove.click(remove_last_example, inputs=page.examples, outputs=page.examples)
