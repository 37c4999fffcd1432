"""The Chat tab: talk to the base model or a finished run, with the sampling settings in view.

Streaming, multi-turn; a system prompt and few-shot examples go before each question, so
in-context learning can be set beside fine-tuning. The conversation lives in the browser
session's Chatbot; Stop ends an answer early. The send event is the `chat` API endpoint
(message, history, model, system prompt, examples, then the settings in widget order):

    examples = {"headers": ["question", "answer"], "data": [["2+2?", "4"]]}
    Client(url).predict("Hello", [], "embedded", "", examples, 0.7, 0.9, 50, 256, 1.0, 0, api_name="/chat")
"""

from __future__ import annotations

from functools import partial, wraps

import gradio as gr
import pandas as pd

from studio.chat import StopSignal, example_pairs, generation_settings, model_choices, stream_reply
from studio.config import EMBEDDED_MODEL
from studio.jobs import JobManager
from studio.ui.common import run_name
from studio.ui.i18n import i18n
from studio.ui.train_tab import shows_errors

# Gradio shows Dataframe headers untranslated, so they are plain field names.
EXAMPLE_COLUMNS = ("question", "answer")
# Answers share the CPU cores; more at once only slows each one down and holds more memory.
CHAT_CONCURRENCY = 4


def streams_errors(handler):
    """The generator version of shows_errors: a ValueError mid-stream reaches the user as a gr.Error."""
    @wraps(handler)
    def wrapper(*args):
        try:
            yield from handler(*args)
        except gr.Error:
            raise
        except ValueError as error:
            raise gr.Error(str(error)) from None
    return wrapper


def settings_widgets(prefix: str) -> list[gr.components.Component]:
    """Temperature, top-p, top-k, max new tokens, repetition penalty and seed, each explained."""
    def text(name: str) -> dict:
        return dict(label=i18n(f"chat.{name}"), info=i18n(f"chat.{name}_help"), elem_id=f"{prefix}-{name.replace('_', '-')}")
    temperature = gr.Slider(0, 2, value=0.7, step=0.05, **text("temperature"))
    top_p = gr.Slider(0.05, 1, value=0.9, step=0.05, **text("top_p"))
    repetition_penalty = gr.Slider(1, 2, value=1.0, step=0.05, **text("repetition_penalty"))
    with gr.Row(equal_height=True):
        top_k = gr.Number(50, precision=0, minimum=0, **text("top_k"))
        max_new_tokens = gr.Number(256, precision=0, minimum=1, maximum=4096, **text("max_new_tokens"))
        seed = gr.Number(0, precision=0, minimum=0, **text("seed"))
    return [temperature, top_p, top_k, max_new_tokens, repetition_penalty, seed]


def model_update(manager: JobManager, current: str | None = None) -> dict:
    """The model list as it is now on disk, keeping the choice when it is still there."""
    choices = model_choices(manager.list_runs())
    values = [value for _, value in choices]
    return gr.update(choices=choices, value=current if current in values else EMBEDDED_MODEL)


@streams_errors
def respond(message: str, history: list, model: str, system_prompt: str, examples, temperature, top_p, top_k,
            max_new_tokens, repetition_penalty, seed, stop: StopSignal | None = None):
    """Stream the answer into the conversation; the message box empties once the question is in."""
    settings = generation_settings(temperature, top_p, top_k, max_new_tokens, repetition_penalty, seed)
    if stop is not None:
        stop.clear()
    for conversation in stream_reply(model, system_prompt, example_pairs(examples), history, message, settings, stop):
        yield conversation, ""


def stop_answer(stop: StopSignal) -> None:
    stop.set()


def clear_conversation(stop: StopSignal) -> list:
    stop.set()
    return []


@shows_errors
def add_example(examples, question: str, answer: str) -> tuple:
    added = example_pairs([[question, answer]])
    if not added:
        raise ValueError("Write an example question and its answer, then add them.")
    return pd.DataFrame(example_pairs(examples) + added, columns=EXAMPLE_COLUMNS), "", ""


def remove_last_example(examples) -> pd.DataFrame:
    return pd.DataFrame(example_pairs(examples)[:-1], columns=EXAMPLE_COLUMNS)


def open_run(manager: JobManager, run_path: str | None) -> tuple:
    """From the Train tab: this tab, talking to the run it followed."""
    return gr.Tabs(selected="chat"), model_update(manager, run_name(run_path))


def build(manager: JobManager, tab: gr.Tab | None = None) -> gr.Dropdown:
    """The tab's widgets and events; `tab`, when given, refreshes the model list each time it is opened.
    Returns the model field, which the Train tab's "Chat with it" sets."""
    stop = gr.State(StopSignal())
    with gr.Row():
        with gr.Column(scale=3):
            refresh_models = gr.Button("↻", size="sm")
            model = gr.Dropdown(model_choices(manager.list_runs()), value=EMBEDDED_MODEL, allow_custom_value=True,
                                buttons=[refresh_models], label=i18n("chat.model"), info=i18n("chat.model_help"),
                                elem_id="chat-model")
            chatbot = gr.Chatbot(label=i18n("chat.conversation"), height=440, buttons=["copy", "copy_all"],
                                 placeholder=i18n("chat.placeholder"), elem_id="chat-history")
            with gr.Row(equal_height=True):
                message = gr.Textbox(show_label=False, placeholder=i18n("chat.message_placeholder"), lines=1, max_lines=8,
                                     scale=5, elem_id="chat-message")
                send = gr.Button(i18n("chat.send"), variant="primary", scale=1, elem_id="chat-send")
            with gr.Row():
                stop_button = gr.Button(i18n("chat.stop"), variant="stop", elem_id="chat-stop")
                clear = gr.Button(i18n("chat.clear"), elem_id="chat-clear")
        with gr.Column(scale=2):
            system_prompt = gr.Textbox(label=i18n("chat.system_prompt"), info=i18n("chat.system_prompt_help"),
                                       lines=2, elem_id="chat-system-prompt")
            settings = settings_widgets("chat")
            with gr.Accordion(i18n("chat.examples"), open=False, elem_id="chat-examples-panel"):
                gr.Markdown(i18n("chat.examples_help"))
                examples = gr.Dataframe(pd.DataFrame(columns=EXAMPLE_COLUMNS), headers=list(EXAMPLE_COLUMNS),
                                        interactive=True, wrap=True, elem_id="chat-examples")
                with gr.Row():
                    example_question = gr.Textbox(label=i18n("chat.example_question"), elem_id="chat-example-question")
                    example_answer = gr.Textbox(label=i18n("chat.example_answer"), elem_id="chat-example-answer")
                with gr.Row():
                    add = gr.Button(i18n("chat.add_example"), size="sm", elem_id="chat-add-example")
                    remove = gr.Button(i18n("chat.remove_example"), size="sm", elem_id="chat-remove-example")

    refresh = partial(model_update, manager)
    refresh_models.click(refresh, inputs=model, outputs=model)
    if tab is not None:
        # A run that finished while another tab was open is offered without a click on the refresh button.
        tab.select(refresh, inputs=model, outputs=model, show_progress="hidden")
    answer = gr.on([send.click, message.submit], respond,
                   inputs=[message, chatbot, model, system_prompt, examples, *settings, stop],
                   outputs=[chatbot, message], api_name="chat", concurrency_limit=CHAT_CONCURRENCY)
    stop_button.click(stop_answer, inputs=stop, queue=False)
    clear.click(clear_conversation, inputs=stop, outputs=chatbot, cancels=[answer], queue=False)
    add.click(add_example, inputs=[examples, example_question, example_answer],
              outputs=[examples, example_question, example_answer])
    remove.click(remove_last_example, inputs=examples, outputs=examples)
    return model
