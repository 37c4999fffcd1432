"""Colleagues' blind votes become training data, in a real browser (Playwright driving Debian's Chromium).

On a finished run of the tiny model: vote blind three times in Compare, make a preference dataset from the
votes, and open it in the Dataset tab without reloading the page; then the same page in Chinese (the header
switch's cookie) makes a KTO dataset of them. Set STUDIO_SCREENSHOT_DIR to keep the screenshots.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.ui.conftest import BROWSER_ARGS, CHROMIUM, browser_or_skip, chinese_browser_page, running_app, shoot, set_slider

pytestmark = pytest.mark.slow
MODEL_WAIT = 90_000  # ms: the first answer loads the models in the app
PROMPTS = ("classify the review as positive or negative", "what is the colour of the sky", "hello how are you")


@pytest.fixture
def voting_app(own_run):
    """The app over a workspace of its own holding a copy of the finished tiny run (no votes, no datasets)."""
    yield from running_app(own_run.parent.parent)


def vote_three_times(page, expect) -> None:
    """Blind mode, then three prompts answered and voted on (A, B, tie), each vote counted in the tally."""
    page.locator("#compare-max-new-tokens input").fill("16")
    set_slider(page, "compare-temperature", "1.2")
    page.locator("#compare-blind input").check()
    # The switch empties the columns and hides the vote buttons: a Compare that finished first would lose them.
    expect(page.locator('#compare-right [data-testid="block-info"]')).to_have_text("Answer B")
    for number, (prompt, choice) in enumerate(zip(PROMPTS, ("a", "b", "tie")), start=1):
        page.locator("#compare-prompt textarea").fill(prompt)
        page.locator("#compare-send").click()
        page.locator(f"#compare-vote-{choice}").wait_for(timeout=MODEL_WAIT)
        page.locator(f"#compare-vote-{choice}").click()
        expect(page.locator("#compare-votes")).to_be_hidden()
        page.wait_for_function(f"""() => (document.querySelector('#compare-tally').innerText.match(/\\d+/g) || [])
                                      .reduce((sum, count) => sum + Number(count), 0) === {number}""")


def test_blind_votes_make_a_dataset_that_opens_in_the_dataset_tab(voting_app, tmp_path):
    sync_playwright = browser_or_skip()
    from playwright.sync_api import expect

    from studio import votes

    url, workspace = voting_app
    run = workspace / "runs" / "tiny-lora"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(url)
        page.get_by_role("tab", name="Compare", exact=True).click()
        expect(page.locator("#compare-run input")).to_have_value(re.compile("tiny-lora"))
        expect(page.locator("#compare-votes")).to_be_hidden()  # no blind pair yet, nothing to vote on
        vote_three_times(page, expect)
        recorded = [json.loads(line) for line in (run / "votes.jsonl").read_text(encoding="utf-8").splitlines()]
        assert [vote["prompt"] for vote in recorded] == list(PROMPTS) and recorded[-1]["winner"] == "tie"
        assert all(set(vote["answers"]) == {"base", "tuned"} for vote in recorded)
        rows, left_out = votes.vote_rows(recorded, "preference")
        assert left_out["tie"] == 1 and rows, f"the tiny model's answers made no pair: {recorded}"

        # The votes as a preference dataset, named here; the line says what was made and what was left out.
        page.locator("#compare-data-name textarea").fill("team-votes")
        page.locator("#compare-data-make").click()
        expect(page.locator("#compare-data-message")).to_contain_text(
            f"Made team-votes (Preference pairs (DPO, ORPO)): {len(rows)} rows from 3 votes")
        expect(page.locator("#compare-data-message")).to_contain_text("ties 1")
        shoot(page, "votes-compare", tmp_path)

        # The Dataset tab's list has it without a reload, and it opens with its rows.
        page.get_by_role("tab", name="Dataset", exact=True).click()
        page.locator("#dataset-saved input").click()
        page.get_by_role("option", name="team-votes", exact=True).click()
        expect(page.locator("#dataset-name input, #dataset-name textarea")).to_have_value("team-votes")
        expect(page.locator("#dataset-table")).to_contain_text(rows[0]["chosen"][:20].strip())
        expect(page.locator('#dataset-table [data-testid="cell-0-0"]')).to_have_text("1")
        shoot(page, "votes-dataset", tmp_path)
        browser.close()

        # In Chinese: the same controls and message, a KTO dataset of the votes (named after the run).
        browser, page = chinese_browser_page(playwright, url, (1400, 1000), 60_000)
        page.get_by_role("tab", name="对比", exact=True).click()
        expect(page.locator("#compare-votes")).to_be_hidden()
        page.locator("#compare-data-kind").get_by_text("好 / 坏回答（KTO）").click()
        page.locator("#compare-data-make").click()
        expect(page.locator("#compare-data-message")).to_contain_text(
            f"已生成 tiny-lora-votes-kto（好 / 坏回答（KTO））：由 3 票得到 {2 * len(rows)} 行")
        shoot(page, "votes-compare-zh", tmp_path)
        page.get_by_role("tab", name="数据集", exact=True).click()
        page.locator("#dataset-saved input").click()
        page.get_by_role("option", name="tiny-lora-votes-kto", exact=True).click()
        expect(page.locator('#dataset-table [data-testid="cell-0-0"]')).to_have_text("1")
        shoot(page, "votes-dataset-zh", tmp_path)
        browser.close()
    assert (workspace / "datasets" / "team-votes.jsonl").exists()
    assert len((workspace / "datasets" / "tiny-lora-votes-kto.jsonl").read_text().splitlines()) == 2 * len(rows)
