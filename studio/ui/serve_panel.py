"""The Chat tab's "Serve over an OpenAI-compatible API" panel: the model picked in Chat answers OpenAI's client
on the app's own address, under /v1 (studio.serve.IN_APP).

One model is served for the whole app. Switching on serves the model picked in Chat, once it has loaded; while
it is on, picking another model in Chat serves that one. The panel shows the base URL, the model name clients
send, the key when the API needs one, and a Python example. The switch is the `serve` endpoint, and its model
is a client's value like any other: studio.chat.model_source resolves it inside the workspace or refuses it.

    Client(url).predict(True, "my-run", api_name="/serve")
"""

from __future__ import annotations

import json
import re

import gradio as gr

from studio import serve
from studio.config import EMBEDDED_MODEL
from studio.sampling import check_precision
from studio.ui.common import user_errors
from studio.ui.i18n import i18n
from studio.ui.lang import say

HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d+)?|\[[0-9A-Fa-f:.]+\](:\d+)?")  # a Host header fit to show


def build(model: gr.Dropdown, precision: gr.Dropdown, tab: gr.Tab | None = None) -> None:
    """The panel under the conversation; `model` and `precision` are Chat's fields (the model is served at that
    precision), `tab` (when given) refreshes the panel each time the tab is opened."""
    with gr.Accordion(i18n("serve.title"), open=False, elem_id="serve-panel"):
        gr.Markdown(i18n("serve.help"))
        switch = gr.Checkbox(False, label=i18n("serve.switch"), info=i18n("serve.switch_help"),
                             elem_id="serve-switch")
        status = gr.Markdown(elem_id="serve-status")
        example = gr.Code(language="python", label=i18n("serve.example"), interactive=False, visible=False,
                          elem_id="serve-example")
    outputs = [switch, status, example]
    switched = switch.input(switch_serving, inputs=[switch, model, precision], outputs=outputs, api_name="serve")
    # After a model that could not load, the panel shows what is served.
    switched.then(panel, outputs=outputs, queue=False, show_progress="hidden", api_visibility="private")
    gr.on([model.input, precision.input], follow, inputs=[switch, model, precision], outputs=outputs,
          api_visibility="private")
    gr.on(triggers=None, fn=panel, outputs=outputs, show_progress="hidden", api_visibility="private")
    if tab is not None:
        tab.select(panel, outputs=outputs, show_progress="hidden", api_visibility="private")


@user_errors
def switch_serving(on: bool, choice: str | None, precision: str | None = None,
                   request: gr.Request | None = None) -> list:
    """Serve the model picked in Chat, at Chat's precision (on), or nothing (off); the panel as it is then."""
    if on:
        serve.IN_APP.serve(serve.ServedModel(str(choice or EMBEDDED_MODEL).strip(), check_precision(precision)))
    else:
        serve.IN_APP.stop()
    return panel(request)


@user_errors
def follow(on: bool, choice: str | None, precision: str | None = None, request: gr.Request | None = None) -> list:
    """A model (or precision) picked in Chat while serving is on is served instead of the one before."""
    served = serve.IN_APP.model
    wanted = serve.ServedModel(str(choice or EMBEDDED_MODEL).strip(), check_precision(precision))
    if on and served is not None and served != wanted:
        serve.IN_APP.serve(wanted)
    return panel(request)


def panel(request: gr.Request | None = None) -> list:
    """(switch, status, example): what is served, where, by which name and key, in the page's language."""
    served = serve.IN_APP.model
    if served is None:
        return [False, say(request, "serve.off"), gr.update(value="", visible=False)]
    url, key = api_url(request), serve.IN_APP.key
    status = (say(request, "serve.on", model=served.name, url=url, precision=served.precision) + "\n\n"
              + (say(request, "serve.key", secret=key) if key else say(request, "serve.no_key")))
    return [True, status, gr.update(value=example(url, served.name, key), visible=True)]


def api_url(request: gr.Request | None) -> str:
    """The API's base URL as this page reaches the app (its Host), else as the app was launched."""
    headers = getattr(request, "headers", None) or {}
    host = headers.get("host", "")
    if not HOST.fullmatch(host):
        return serve.IN_APP.url or serve.base_url("127.0.0.1", 7860)
    scheme = getattr(getattr(request, "url", None), "scheme", "http")
    return f"{'https' if scheme == 'https' else 'http'}://{host}/v1"


def example(url: str, model: str, key: str | None) -> str:
    """Python with OpenAI's client, streaming an answer from the served model."""
    return (f"from openai import OpenAI\n\n"
            f"client = OpenAI(base_url={json.dumps(url)}, api_key={json.dumps(key or 'none')})\n"
            f"stream = client.chat.completions.create(\n"
            f"    model={json.dumps(model, ensure_ascii=False)},\n"
            f"    messages=[{{\"role\": \"user\", \"content\": \"Hello!\"}}],\n"
            f"    stream=True,\n"
            f")\n"
            f"for chunk in stream:\n"
            f"    print(chunk.choices[0].delta.content or \"\", end=\"\", flush=True)\n")
