"""The page's language: English or Chinese, chosen by the header's switch (a cookie) or else by the browser.

Gradio's browser side translates a component's label when it is one i18n key, from a language it reads once,
at start, from `navigator.language`. So:
- the switch stores the choice in a cookie and reloads the page;
- `LanguageScript` (ASGI middleware) puts a first script into the page that makes `navigator.language` the
  cookie's language before Gradio starts, so every label, tab and button comes up in it;
- handlers write what they put together themselves (a table's headers, a progress line, an error) with
  `say(request, key)` in the same language.
"""

from __future__ import annotations

import gradio as gr
from starlette.middleware import Middleware

LANGUAGE_COOKIE = "studio_lang"  # set by the header's language switch
LANGUAGES = ("en", "zh")


def language(request: gr.Request | None) -> str:
    """'zh' or 'en': the header switch's choice (a cookie), else the browser's first language."""
    if request is None:
        return "en"
    chosen = (request.cookies or {}).get(LANGUAGE_COOKIE, "") if hasattr(request, "cookies") else ""
    if chosen in LANGUAGES:
        return chosen
    accepted = (request.headers.get("accept-language", "") if request.headers else "").lower()
    return "zh" if accepted.startswith("zh") else "en"


def words(request: gr.Request | None) -> dict:
    """The page's labels by key, in its language (English where Chinese has no entry)."""
    from studio.ui.i18n import EN, ZH

    return {**EN, **ZH} if language(request) == "zh" else EN


def say(request: gr.Request | None, key: str, **values) -> str:
    """One label in the page's language, with {placeholders} filled."""
    text = words(request)[key]
    return text.format(**values) if values else text


# Runs before Gradio's own scripts: the cookie's language becomes the browser's, for Gradio's labels; the page
# is marked with its language (data-studio-lang) for what only CSS can reach, such as the toasts' titles.
PAGE_SCRIPT = ("<script>(function(){var m=document.cookie.match(/(?:^|; )" + LANGUAGE_COOKIE + "=(en|zh)(?:;|$)/);"
               "if(m){var l=m[1]==='zh'?'zh-CN':'en-US';try{"
               "Object.defineProperty(Navigator.prototype,'language',{get:function(){return l},configurable:true});"
               "Object.defineProperty(Navigator.prototype,'languages',{get:function(){return [l]},configurable:true});"
               "}catch(e){}}document.documentElement.setAttribute('data-studio-lang',"
               "(navigator.language||'').toLowerCase().indexOf('zh')===0?'zh':'en');})();</script>")
# Gradio 6 titles a toast with its kind in English ("Error"), whatever the title sent: in Chinese the word is
# hidden and the Chinese one shown in its place.
TOAST_TITLES_ZH = {"error": "错误", "warning": "警告", "info": "提示", "success": "完成"}
TOAST_CSS = "".join(
    f'html[data-studio-lang="zh"] .toast-title.{kind} {{ font-size: 0 !important; }}'
    f'html[data-studio-lang="zh"] .toast-title.{kind}::before {{ content: "{title}"; font-size: var(--text-lg); }}'
    for kind, title in TOAST_TITLES_ZH.items())
# The switch's click: keep the choice for a year, and reload the page in it.
CHOOSE_LANGUAGE = ("(language) => { document.cookie = '" + LANGUAGE_COOKIE + "=' + language +"
                   " '; path=/; max-age=31536000; SameSite=Lax'; location.reload(); return []; }")


class LanguageScript:
    """ASGI middleware: the app's page gets PAGE_SCRIPT as the first thing in its <head>."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "GET" or not scope.get("path", "").endswith("/"):
            await self.app(scope, receive, send)
            return
        start: dict = {}
        body = bytearray()

        async def buffered(message):
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                if not headers.get(b"content-type", b"").startswith(b"text/html"):
                    start["pass"] = True
                    await send(message)
                    return
                start.update(message)
                return
            if start.get("pass") or message["type"] != "http.response.body":
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            page = bytes(body).replace(b"<head>", b"<head>" + PAGE_SCRIPT.encode(), 1)
            headers = [(key, value) for key, value in start.get("headers", []) if key.lower() != b"content-length"]
            headers.append((b"content-length", str(len(page)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": page})

        await self.app(scope, receive, buffered)


def language_script() -> Middleware:
    return Middleware(LanguageScript)
