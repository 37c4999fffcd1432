"""Precision in a real browser (Playwright driving Debian's Chromium): on a finished run of the tiny model, Chat
answers at int8 and says what that cost; Compare puts the tuned model at fp32 beside itself at int4, labels the
columns by precision and says each column's memory and speed; Chat's panel serves the picked model at its
precision over the OpenAI-compatible API, and the official client gets the same greedy answer. Set
STUDIO_SCREENSHOT_DIR to keep the screenshots."""

from __future__ import annotations

import re

import pytest

from tests.ui.conftest import BROWSER_ARGS, CHROMIUM, browser_or_skip, running_app, shoot, set_slider

pytestmark = pytest.mark.slow
MODEL_WAIT = 90_000  # ms: the first answer loads the model in the app
CAPTION = re.compile(r"int8 · \d+ MB of weights")
SPEEDS = re.compile(r"Left: fp32 · \d+ MB of weights( · [\d.]+ tokens/s)?\. Right: int4 · \d+ MB of weights")


@pytest.fixture
def precision_app(own_run):
    """The app over a workspace of its own holding a copy of the finished tiny run."""
    yield from running_app(own_run.parent.parent)


def pick(page, field: str, option: str) -> None:
    page.locator(f"#{field} input").click()
    page.locator(f"#{field}").get_by_role("option", name=option, exact=True).click()


def test_chat_and_compare_at_two_precisions_and_the_api_at_chat_s(precision_app, tmp_path):
    sync_playwright = browser_or_skip()
    from openai import OpenAI
    from playwright.sync_api import expect

    url, _ = precision_app
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(url)

        # Chat with the run at int8: the caption ends with the precision and the weights' memory.
        page.get_by_role("tab", name="Chat", exact=True).click()
        page.locator("#chat-model input").click()
        page.get_by_role("option").filter(has_text="tiny-lora ·").first.click()
        pick(page, "chat-precision", "int8")
        set_slider(page, "chat-temperature", "0")
        page.locator("#chat-max-new-tokens input").fill("8")
        page.locator("#chat-message textarea").fill("great food and friendly staff")
        page.locator("#chat-send").click()
        expect(page.locator("#chat-history")).to_contain_text(CAPTION, timeout=MODEL_WAIT)
        shoot(page, "precision-chat", tmp_path)

        # Served at Chat's precision: the official client's greedy answer is the page's.
        page.locator("#serve-panel").click()
        page.locator("#serve-switch input").check()
        expect(page.locator("#serve-status")).to_contain_text("Serving tiny-lora at int8", timeout=MODEL_WAIT)
        client = OpenAI(base_url=f"{url.rstrip('/')}/v1", api_key="none")
        reply = client.chat.completions.create(
            model="tiny-lora", messages=[{"role": "user", "content": "great food and friendly staff"}],
            temperature=0, max_tokens=8)
        answer = reply.choices[0].message.content.strip()
        assert answer
        expect(page.locator("#chat-history")).to_contain_text(answer)

        # Compare: the tuned model at fp32 beside itself at int4, same seed.
        page.get_by_role("tab", name="Compare", exact=True).click()
        expect(page.locator("#compare-run input")).to_have_value(re.compile("tiny-lora"))
        page.locator("#compare-precision").click()
        page.locator("#compare-left-model").get_by_text("tuned model", exact=True).click()
        pick(page, "compare-left-precision", "fp32")
        pick(page, "compare-right-precision", "int4")
        page.locator("#compare-max-new-tokens input").fill("8")
        page.locator("#compare-prompt textarea").fill("the cat sat")
        page.locator("#compare-send").click()
        expect(page.locator("#compare-speeds")).to_contain_text(SPEEDS, timeout=MODEL_WAIT)
        expect(page.locator("#compare-left")).to_contain_text("Tuned · fp32")
        expect(page.locator("#compare-right")).to_contain_text("Tuned · int4")
        shoot(page, "precision-compare", tmp_path)
        browser.close()
