"""The page's language on the server: the switch's cookie, the browser's language, translated errors."""

from __future__ import annotations

import asyncio
import inspect
from types import SimpleNamespace

import gradio as gr
import pytest

from studio.ui import common, i18n_errors, lang as language
from studio.ui.common import bind, user_errors


def request(cookie: str | None = None, accept: str = "") -> SimpleNamespace:
    return SimpleNamespace(cookies={language.LANGUAGE_COOKIE: cookie} if cookie else {},
                           headers={"accept-language": accept})


def test_the_switch_wins_over_the_browser_and_the_browser_over_english():
    assert language.language(None) == "en"
    assert language.language(request(accept="zh-CN,zh;q=0.9")) == "zh"
    assert language.language(request(cookie="en", accept="zh-CN")) == "en"
    assert language.language(request(cookie="zh", accept="en-US")) == "zh"
    assert language.language(request(cookie="fr", accept="en-US")) == "en"  # a forged cookie is ignored
    assert language.say(request(cookie="zh"), "tab.train") == "训练"


def test_errors_speak_the_page_language_and_are_escaped(monkeypatch):
    monkeypatch.setattr(i18n_errors, "ERRORS_ZH", [(r"No rows in (.+)\.", "{0} 中没有数据行。")])

    @user_errors
    def handler(name: str) -> str:
        raise ValueError(f"No rows in {name}.\n<b>bold</b>")

    # Gradio hands the wrapper a request through the parameter added to what it reads.
    assert list(inspect.signature(handler).parameters) == ["name", "request"]
    assert gr.utils.get_type_hints(handler) == {"request": gr.Request}
    with pytest.raises(gr.Error) as raised:
        handler("a.jsonl", request(cookie="zh"))
    assert raised.value.message == "a.jsonl 中没有数据行。<br>&lt;b&gt;bold&lt;/b&gt;"
    assert raised.value.title == "错误"
    with pytest.raises(gr.Error) as raised:
        handler("a.jsonl")
    assert raised.value.message.startswith("No rows in a.jsonl.") and raised.value.title == "Error"
    assert raised.value.duration == common.ERROR_SECONDS


def test_bind_keeps_the_request_and_the_stream():
    @user_errors
    def answer(manager, text: str, request: gr.Request):
        yield manager + text
        raise ValueError("Stopped.")

    bound = bind(answer, "model: ")
    assert inspect.isgeneratorfunction(bound)
    assert list(inspect.signature(bound).parameters) == ["text", "request"]
    assert gr.utils.get_type_hints(bound) == {"request": gr.Request}
    stream = bound("hi", request(cookie="zh"))
    assert next(stream) == "model: hi"
    with pytest.raises(gr.Error) as raised:
        next(stream)
    assert raised.value.title == "错误"


def test_the_page_gets_the_language_script_first():
    async def app(scope, receive, send):
        page = b"<!doctype html><html><head><title>t</title></head></html>"
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", b"%d" % len(page))]})
        await send({"type": "http.response.body", "body": page})

    sent = []

    async def send(message):
        sent.append(message)

    asyncio.run(language.LanguageScript(app)({"type": "http", "method": "GET", "path": "/"}, None, send))
    body = sent[1]["body"]
    assert body.startswith(b"<!doctype html><html><head><script>") and b"studio_lang" in body
    assert dict(sent[0]["headers"])[b"content-length"] == str(len(body)).encode()


def test_the_wrapper_keeps_what_gradio_hands_a_select_handler():
    @user_errors
    def selected(event: gr.SelectData) -> str:
        return event.value

    assert gr.utils.get_type_hints(selected) == {"event": gr.SelectData, "request": gr.Request}
    assert gr.utils.get_type_hints(bind(selected)) == {"event": gr.SelectData, "request": gr.Request}
