"""Which method should I use, in a real browser (Playwright driving Debian's Chromium, headless).

On the app over an empty workspace (the tiny model allowed with --allow-paths): queue a comparison of three
methods on the review sample the form offers first, a few steps each, scored on 4 rows of the review test sample, watch the three runs train one after
another and finish in the table, read the reading and the curves, and download the report as one whole HTML file;
then the same page in Chinese (the header switch's cookie) shows the tab's labels in Chinese.
Set STUDIO_SCREENSHOT_DIR to keep the screenshots.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.ui.conftest import BROWSER_ARGS, CHROMIUM, browser_or_skip, chinese_browser_page, running_app, shoot

pytestmark = pytest.mark.slow
TRAINING_WAIT = 900_000  # ms: three runs one after another, each a process that loads, trains and answers
METHODS = ("lora", "dora", "ia3")


@pytest.fixture
def methods_app(tmp_path_factory, tiny_model_dir):
    """The app over an empty workspace; the tiny model's folder is one the app may open."""
    yield from running_app(tmp_path_factory.mktemp("methods-workspace"), "--allow-paths", str(tiny_model_dir))


def pick(page, field: str, typed: str, option: str) -> None:
    """Type into a dropdown and click the option offered."""
    page.locator(f"#{field} input").fill(typed)
    page.get_by_role("option", name=option, exact=True).first.click()


def queue_three_methods(page, expect, model: Path) -> None:
    """The form: the review sample (offered first), lora / dora / ia3 (the default three), 4 rows of the review test
    sample, the tiny model, 3 steps each, named trio; then Queue."""
    expect(page.locator("#methods-dataset input")).to_have_value("samples/reviews-train.jsonl")
    expect(page.locator("#methods-methods input[type='checkbox']:checked")).to_have_count(len(METHODS))
    pick(page, "methods-heldout", "reviews-test", "samples/reviews-test.jsonl")
    page.locator("#methods-heldout-rows input").fill("4")
    page.locator("#methods-more").get_by_text("Model and length").click()
    page.locator("#methods-base-model textarea, #methods-base-model input").first.fill(str(model))
    page.locator("#methods-max-steps input").fill("3")
    page.locator("#methods-name textarea, #methods-name input").first.fill("trio")
    page.locator("#methods-queue").click()
    expect(page.locator("#methods-message")).to_contain_text("Queued trio: 3 runs (trio-lora, trio-dora, trio-ia3)")


def test_three_methods_queued_trained_read_and_reported(methods_app, tiny_model_dir, tmp_path):
    sync_playwright = browser_or_skip()
    from playwright.sync_api import expect

    url, workspace = methods_app
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(url)
        page.get_by_role("tab", name="Methods", exact=True).click()
        queue_three_methods(page, expect, tiny_model_dir)
        # The view turns to the new comparison; the queue lists its runs (one may have started already).
        expect(page.locator("#methods-experiment input")).to_have_value(re.compile("^trio"))
        expect(page.locator("#methods-queue-table")).to_contain_text("trio-ia3")
        shoot(page, "methods-queued", tmp_path)

        # The three runs train one after another and finish in the table, followed without a click.
        table = page.locator("#methods-table")
        for row, method in enumerate(METHODS):
            expect(table.locator(f'[data-testid="cell-{row}-0"]')).to_have_text(method)
        for row in range(len(METHODS)):
            expect(table.locator(f'[data-testid="cell-{row}-2"]')).to_have_text("finished", timeout=TRAINING_WAIT)
        expect(page.locator("#methods-queue-table")).not_to_contain_text("trio-")
        # Each finished run has its numbers: trained parameters, minutes and saved size are written in.
        for row in range(len(METHODS)):
            for column in (3, 5, 9):
                expect(table.locator(f'[data-testid="cell-{row}-{column}"]')).not_to_have_text("–")
        # The curves overlay the three runs; the reading is written from the numbers.
        for chart in ('#methods-train-chart svg[role="img"]', '#methods-eval-chart svg[role="img"]'):
            expect(page.locator(chart)).to_have_count(1)
            for method in METHODS:
                expect(page.locator(chart).get_by_text(method, exact=True).first).to_be_attached()
        reading = page.locator("#methods-reading")
        expect(reading).to_contain_text(re.compile(r"saved the smallest file|trained fastest|least memory"))
        expect(reading.locator("li")).not_to_have_count(0)
        shoot(page, "methods-finished", tmp_path)

        # The report: one self-contained HTML file, downloaded.
        page.locator("#methods-report").click()
        expect(page.locator("#methods-download")).to_be_visible()
        with page.expect_download() as download:
            page.locator("#methods-download").click()
        text = Path(download.value.path()).read_text(encoding="utf-8")
        assert text.lstrip().lower().startswith("<!doctype html") and text.rstrip().endswith("</html>")
        assert "trio" in text and all(method in text for method in METHODS) and "<svg" in text
        assert not re.search(r"""<(script|link|img)\b[^>]*\b(src|href)=["']?https?:""", text)
        expect(page.locator('[data-testid="toast-body"]')).to_have_count(0, timeout=15_000)
        browser.close()


def test_the_tab_speaks_chinese(methods_app):
    sync_playwright = browser_or_skip()
    from playwright.sync_api import expect

    from studio.ui.i18n import EN, ZH

    url, _ = methods_app
    with sync_playwright() as playwright:
        browser, page = chinese_browser_page(playwright, url)
        page.get_by_role("tab", name=ZH["tab.methods"], exact=True).click()
        expect(page.locator("#methods-queue")).to_have_text(ZH["methods.queue_button"])
        expect(page.locator("#methods-report")).to_have_text(ZH["methods.report"])
        page.locator("#methods-more").get_by_text(ZH["methods.more"]).click()
        expect(page.locator("#methods-reading")).to_contain_text(ZH["methods.reading_none"])
        expect(page.locator("#methods-table")).to_contain_text(ZH["methods.column.trainable_parameters"])
        expect(page.locator("#methods-queue-table")).to_contain_text(ZH["methods.queue_column.run"])
        panel = page.locator("[role='tabpanel']:visible").first
        shown = panel.inner_text()
        for key in ("methods.dataset", "methods.preset", "methods.variable", "methods.methods", "methods.heldout",
                    "methods.heldout_rows", "methods.base_model", "methods.max_steps", "methods.name", "methods.fair",
                    "methods.source", "methods.experiment", "methods.chart.train", "methods.chart.eval"):
            assert ZH[key] in shown, key
        english = [EN[key] for key in EN if key.startswith("methods.") and re.search("[A-Za-z]{4}", EN[key])
                   and "{" not in EN[key] and EN[key] in shown]
        assert not english, f"English left on the Chinese page: {english}"
        # A refusal written by the tab is Chinese too: one method is no comparison.
        for method in ("dora", "ia3"):
            panel.locator("#methods-methods").get_by_text(method, exact=True).click()
        page.locator("#methods-queue").click()
        expect(page.locator('[data-testid="toast-body"]')).to_contain_text("请勾选两种或更多方法")
        browser.close()
