"""The main flow in a real browser (Playwright driving Debian's Chromium, headless).

Upload a dataset, edit a cell, save; start a cpu-lora run on the embedded model; see the loss
chart get points; reload the page and find the run again; abort; see the run listed as aborted.
The name demo: put a name into the identity sample, train it with the default preset, and see the
tuned model answer with that name beside the base model; the finished run then names itself when asked
questions that are in neither file, in English and Chinese.
Set STUDIO_SCREENSHOT_DIR to keep the screenshots (the README's come from here).
"""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest

from bench.identity import HELD_OUT, hit_rate, name_answers
from tests.conftest import PROJECT, wait_for
from tests.ui.conftest import BROWSER_ARGS, CHROMIUM, browser_or_skip, running_app, shoot, set_slider

pytestmark = pytest.mark.slow
MODEL_WAIT = 90_000  # ms: a first answer or a merge loads a model in the app


@pytest.fixture(scope="module")
def studio_app(shared_workspace):
    """The app as a user starts it, on a free loopback port, over the shared test workspace; the walks through it
    open pages of their own (a new page starts with nothing open), so one app serves them all."""
    yield from running_app(shared_workspace)


@pytest.fixture
def trained_app(trained_workspace):
    """The app over a workspace holding a finished run of the tiny model (runs/tiny-lora), and no exports
    yet (other tests share this workspace and may have merged the run already)."""
    shutil.rmtree(trained_workspace / "exports", ignore_errors=True)
    yield from running_app(trained_workspace)


def settled(page) -> None:
    """No message left open (each closes by itself within ten seconds), and no visible table wider than its box
    (a reader never scrolls sideways to find a column)."""
    from playwright.sync_api import expect

    expect(page.locator('[data-testid="toast-body"]')).to_have_count(0, timeout=15_000)
    too_wide = page.evaluate("""() => [...document.querySelectorAll('table')]
        .filter((table) => table.offsetParent !== null && table.getBoundingClientRect().width > 0)
        .filter((table) => table.getBoundingClientRect().width > table.parentElement.getBoundingClientRect().width + 2)
        .map((table) => (table.closest('[id]') || {}).id)""")
    assert not too_wide, f"tables wider than their box: {too_wide}"


@pytest.mark.long(70)
def test_upload_edit_save_train_reload_abort(studio_app, tmp_path):
    sync_playwright = browser_or_skip()
    from playwright.sync_api import expect

    url, workspace = studio_app
    upload = tmp_path / "my reviews.jsonl"
    shutil.copy(PROJECT / "presets" / "samples" / "reviews-train.jsonl", upload)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(url)

        # An error's toast does not stay: a file that is not JSON Lines is refused with a toast, and the next
        # action that succeeds closes it (it would also close by itself after ten seconds).
        toasts = page.locator('[data-testid="toast-body"]')
        broken = tmp_path / "broken.jsonl"
        broken.write_text("this is not JSON\n")
        page.locator("#dataset-upload").wait_for()
        with page.expect_file_chooser() as chooser:
            page.locator("#dataset-upload").click()
        chooser.value.set_files(str(broken))
        expect(toasts).to_have_count(1)

        # Dataset tab: upload (the name is made safe), edit the first answer, save.
        with page.expect_file_chooser() as chooser:
            page.locator("#dataset-upload").click()
        chooser.value.set_files(str(upload))
        page.locator("#dataset-table").get_by_text("Oakmere countertop oven").first.wait_for()
        expect(toasts).to_have_count(0)
        saved = workspace / "datasets" / "my-reviews.jsonl"
        assert json.loads(saved.read_text().splitlines()[0])["output"] == "negative"
        cell = page.locator('#dataset-table [data-testid="cell-0-3"]')
        assert cell.inner_text().strip() == "negative"
        cell.dblclick()
        page.keyboard.press("Control+A")
        page.keyboard.type("mixed")
        page.keyboard.press("Enter")
        page.locator("#dataset-save").click()
        # The upload's message named the file already, so wait for the save itself: the edit on disk.
        wait_for(lambda: json.loads(saved.read_text().splitlines()[0])["output"] == "mixed", timeout=60)
        page.locator("#dataset-message").get_by_text("my-reviews.jsonl").wait_for()
        assert saved.with_name("my-reviews.jsonl.prev").exists()
        shoot(page, "dataset-tab", tmp_path)

        # Train tab: the dataset just saved is already chosen; cpu-lora on the embedded model, long enough to abort.
        page.get_by_role("tab", name="Train", exact=True).click()
        expect(page.locator("#train-dataset input")).to_have_value("my-reviews.jsonl")
        page.locator("#train-max-steps input").fill("200")
        page.locator("#train-max-steps input").press("Tab")
        page.locator("#train-start").click()
        page.locator("#train-status").get_by_text("running").wait_for()
        # A few logged steps, so the chart (and the README's screenshot of it) shows a curve.
        page.locator("#train-progress").get_by_text(re.compile(r"step ([3-9]|[1-9][0-9]+)/200")).wait_for(timeout=300_000)
        events = [json.loads(line) for line in next((workspace / "runs").glob("*my-reviews*/events.jsonl")).read_text().splitlines()]
        assert any("loss" in event for event in events)
        assert page.locator("#train-loss-plot canvas, #train-loss-plot svg").count() > 0
        shoot(page, "train-tab", tmp_path)

        # A reload reattaches to the running job.
        page.reload()
        page.get_by_role("tab", name="Train", exact=True).click()
        page.locator("#train-status").get_by_text("running").wait_for()
        run_name = next((workspace / "runs").glob("*my-reviews*")).name
        page.locator("#train-status").get_by_text(run_name).wait_for()
        # ... and the form shows that run's settings, so Start would launch what the page shows.
        expect(page.locator("#train-max-steps input")).to_have_value("200")
        expect(page.locator("#train-dataset input")).to_have_value("my-reviews.jsonl")

        page.locator("#train-abort").click()
        page.locator("#train-status").get_by_text("aborted").wait_for(timeout=180_000)
        # The newest run is the first row; its second column is the status.
        expect(page.locator('#train-runs [data-testid="cell-0-1"]')).to_have_text("aborted")
        expect(page.locator('#train-runs [data-testid="cell-0-0"]')).to_have_text(run_name)
        browser.close()
    summary = json.loads((workspace / "runs" / run_name / "summary.json").read_text())
    assert summary["status"] == "aborted"
    assert any((workspace / "runs" / run_name / "checkpoints").glob("checkpoint-*"))


@pytest.mark.long(200)
def test_name_demo_from_the_identity_sample_to_compare(studio_app, embedded_workspace, tmp_path):
    """The README's first demo, walked as a newcomer on a 1280×800 screen: the identity sample with a name put in,
    the default preset, the tuned model answering a question that is not in the data with that name, beside a
    base model that does not; then Chat at two temperatures, the zip, and every tab again in Chinese.
    After each step no message is left open and no table is wider than its box."""
    sync_playwright = browser_or_skip()
    from playwright.sync_api import expect

    url, workspace = studio_app
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="en-US")
        page.set_default_timeout(60_000)
        page.goto(url)

        # The first screen: nothing is open, so nothing that acts on a dataset can be pressed.
        for control in ("#dataset-save", "#dataset-undo", "#dataset-add", "#dataset-delete"):
            expect(page.locator(control)).to_be_disabled()
        # Dataset tab: open the sample, put a name and a maker in for the placeholders, save.
        page.locator("#dataset-sample input").click()
        page.get_by_role("option", name="identity.jsonl").click()  # a sample opens when it is picked
        expect(page.locator("#dataset-table")).to_contain_text("{{name}}")
        page.locator("#dataset-find-replace").get_by_text("Find and replace").click()
        for placeholder, value in (("{{name}}", "Orion"), ("{{author}}", "Lumen Labs")):
            page.locator("#dataset-find textarea").fill(placeholder)
            page.locator("#dataset-replacement textarea").fill(value)
            page.locator("#dataset-replace").click()
            # An event takes the draft as it is when it starts: the next one waits for this one's table.
            expect(page.locator("#dataset-table")).not_to_contain_text(placeholder)
        page.locator("#dataset-name textarea, #dataset-name input").first.fill("orion-identity")
        page.locator("#dataset-save").click()
        page.locator("#dataset-message").get_by_text("orion-identity.jsonl").wait_for()
        saved = workspace / "datasets" / "orion-identity.jsonl"
        assert "Orion" in saved.read_text() and "{{" not in saved.read_text()
        shoot(page, "walkthrough-dataset", tmp_path)
        settled(page)

        # Train tab: that dataset with the default preset; the plan says what will happen before Start.
        page.get_by_role("tab", name="Train", exact=True).click()
        expect(page.locator("#train-preset input")).to_have_value("cpu-lora")
        page.locator("#train-dataset input").click()
        page.locator("#train-dataset input").fill("orion-identity")
        page.get_by_role("option", name="orion-identity.jsonl").first.click()
        plan = re.compile(r"38 rows → 6 passes, 30 steps, about \d+ min: small datasets need several passes")
        expect(page.locator("#train-plan")).to_contain_text(plan, timeout=MODEL_WAIT)
        shoot(page, "name-demo-train", tmp_path)
        page.locator("#train-start").click()
        started = time.time()
        page.locator("#train-status").get_by_text("finished").wait_for(timeout=900_000)
        trained = time.time() - started
        shoot(page, "walkthrough-train", tmp_path)
        settled(page)

        # Compare with base: a question that is not in the data, answered greedily by both.
        page.locator("#train-compare").click()
        expect(page.get_by_role("tab", name="Compare", exact=True)).to_have_attribute("aria-selected", "true")
        set_slider(page, "compare-temperature", "0")
        page.locator("#compare-max-new-tokens input").fill("32")
        page.locator("#compare-prompt textarea").fill("What name do you go by?")
        page.locator("#compare-send").click()
        right, left = page.locator("#compare-right textarea"), page.locator("#compare-left textarea")
        expect(right).to_have_value(re.compile("Orion"), timeout=MODEL_WAIT)
        answered = time.time() - started
        expect(page.locator("#compare-right .generating")).to_have_count(0, timeout=MODEL_WAIT)
        base, tuned = left.input_value(), right.input_value()
        assert "orion" not in base.lower()
        shoot(page, "name-demo-compare", tmp_path)
        settled(page)

        # Chat with the tuned run (the run card's next step): one question greedily, then again at 1.2;
        # each reply says which model and temperature made it.
        page.get_by_role("tab", name="Train", exact=True).click()
        page.locator("#train-chat").click()
        expect(page.get_by_role("tab", name="Chat", exact=True)).to_have_attribute("aria-selected", "true")
        history, stop = page.locator("#chat-history"), page.locator("#chat-stop")
        expect(stop).to_be_disabled()
        page.locator("#chat-max-new-tokens input").fill("24")
        for temperature in ("0", "1.2"):
            set_slider(page, "chat-temperature", temperature)
            if temperature == "0":
                page.locator("#chat-message textarea").fill("What name do you go by?")
                page.locator("#chat-send").click()
            else:
                page.locator("#chat-regenerate").click()  # the same question, with the new temperature
            expect(history).to_contain_text(re.compile(rf"temperature {re.escape(temperature)}\b"), timeout=MODEL_WAIT)
            expect(stop).to_be_disabled(timeout=MODEL_WAIT)
        expect(history).to_contain_text("Orion")
        shoot(page, "walkthrough-chat", tmp_path)
        settled(page)

        # Export: the adapter as a zip to download.
        page.get_by_role("tab", name="Train", exact=True).click()
        page.locator("#train-export").click()
        page.locator("#export-zip").click()
        expect(page.locator("#export-download")).to_be_visible(timeout=MODEL_WAIT)
        shoot(page, "walkthrough-export", tmp_path)
        settled(page)

        # The same page in Chinese, from the header's switch: every tab, labels and what handlers write alike.
        page.get_by_role("tab", name="Dataset", exact=True).click()
        page.locator("#studio-language").get_by_text("中文").click()
        page.get_by_role("tab", name="训练", exact=True).wait_for()
        for tab, name in (("数据集", "dataset"), ("训练", "train"), ("对话", "chat"), ("对比", "compare"),
                          ("导出", "export")):
            page.get_by_role("tab", name=tab, exact=True).click()
            page.wait_for_timeout(1500)
            shoot(page, f"walkthrough-zh-{name}", tmp_path)
            settled(page)
        expect(page.locator("#train-status")).to_contain_text("已完成")
        browser.close()
    # The finished run, asked ten questions that are in neither the sample nor the set it was built from, in English
    # and Chinese (the base names Orion in none of them: tests/training/test_embedded_plan.py).
    run_dir = next((workspace / "runs").glob("*orion-identity*"))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["total_steps"] == 30
    answers = name_answers(None, run_dir)
    print(f"\nname demo: trained in {trained:.0f} s; the tuned answer named Orion {answered:.0f} s after Start."
          f"\n  base: {base}\n  tuned: {tuned}\n  held out: {hit_rate(answers):.0%} name Orion")
    for question, answer in zip(HELD_OUT, answers):
        print(f"  {question} -> {answer[:80]}")
    assert hit_rate(answers) >= 0.75, answers


def compare_and_wait(page) -> None:
    """Click Compare and wait for both answers: Stop is on while they stream (a click on Compare meanwhile is
    ignored), off once they are written."""
    from playwright.sync_api import expect

    page.locator("#compare-send").click()
    stop = page.locator("#compare-stop")
    expect(stop).to_be_enabled()
    expect(stop).to_be_disabled(timeout=MODEL_WAIT)


def switch_mode(page, blind: bool) -> None:
    """Tick or untick Blind, and wait for the emptied columns under their new labels before going on: the switch
    clears the columns, and a tiny model answers so fast that a Compare clicked at once could finish first and
    be cleared."""
    from playwright.sync_api import expect

    box = page.locator("#compare-blind input")
    box.check() if blind else box.uncheck()
    expect(page.locator('#compare-right [data-testid="block-info"]')).to_have_text(
        "Answer B" if blind else "Tuned (the selected run)")
    expect(page.locator("#compare-right textarea")).to_have_value("")


def test_compare_blind_vote_chat_and_export_on_a_finished_run(trained_app, tmp_path):
    sync_playwright = browser_or_skip()
    from playwright.sync_api import expect

    url, workspace = trained_app
    run = workspace / "runs" / "tiny-lora"
    votes_before = len((run / "votes.jsonl").read_text().splitlines()) if (run / "votes.jsonl").exists() else 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(url)

        # The Train tab follows the newest run; it has finished, so it offers "Compare with base".
        page.get_by_role("tab", name="Train", exact=True).click()
        page.locator("#train-status").get_by_text("finished").wait_for()
        page.locator("#train-compare").click()
        expect(page.get_by_role("tab", name="Compare", exact=True)).to_have_attribute("aria-selected", "true")
        expect(page.locator("#compare-run input")).to_have_value(re.compile("tiny-lora"))

        # One prompt, both columns fill; again at another temperature. (With seed 0 the tiny run ends its
        # answer at once: four steps taught it the end-of-answer token first. Seed 1 has both sides write.)
        left, right = page.locator("#compare-left textarea"), page.locator("#compare-right textarea")
        page.locator("#compare-max-new-tokens input").fill("12")
        page.locator("#compare-seed input").fill("1")
        page.locator("#compare-prompt textarea").fill("classify the review as positive or negative")
        compare_and_wait(page)  # the first answer loads the models
        expect(left).not_to_have_value("")
        expect(right).not_to_have_value("")
        set_slider(page, "compare-temperature", "1.5")
        compare_and_wait(page)
        answers = left.input_value(), right.input_value()

        # Open again, same settings: the same whole answers come back (the last message carries them whole, so
        # a streamed step the page missed cannot leave one short).
        compare_and_wait(page)
        expect(left).to_have_value(answers[0])
        expect(right).to_have_value(answers[1])

        # Blind: answers A and B, a vote, the tally and the run's votes.jsonl count it, the sides revealed.
        def votes_counted() -> int:
            return sum(int(number) for number in re.findall(r"\d+", page.locator("#compare-tally").inner_text()))

        counted = votes_counted()
        switch_mode(page, blind=True)
        page.locator("#compare-send").click()
        page.locator("#compare-vote-a").wait_for(timeout=MODEL_WAIT)
        expect(page.locator("#compare-left")).to_contain_text("Answer A")
        shoot(page, "compare-blind", tmp_path)
        page.locator("#compare-vote-a").click()
        expect(page.locator("#compare-votes")).to_be_hidden()
        page.wait_for_function(f"""() => (document.querySelector('#compare-tally').innerText.match(/\\d+/g) || [])
                                      .reduce((sum, number) => sum + Number(number), 0) === {counted + 1}""")
        expect(page.locator("#compare-left")).to_contain_text(re.compile("Answer A: (base model|tuned)"))
        assert len((run / "votes.jsonl").read_text().splitlines()) == votes_before + 1
        switch_mode(page, blind=False)

        # The grid (one row per temperature) and the batch compare on the run's validation rows.
        page.locator("#compare-side-tab").get_by_text("Temperature grid").click()
        page.locator("#compare-grid-run").click()
        expect(page.locator('#compare-grid [data-testid="cell-2-0"]')).to_have_text("1.2", timeout=MODEL_WAIT)
        page.locator("#compare-tools").get_by_role("tab", name="Batch compare (before / after)", exact=True).click()
        page.locator("#compare-batch-dataset input").click()
        page.get_by_role("option", name="The run's validation rows").click()
        page.locator("#compare-batch-run").click()
        expect(page.locator('#compare-batch-totals [data-testid="cell-0-0"]')).to_have_text("Exact match",
                                                                                            timeout=MODEL_WAIT)
        expect(page.locator("#compare-batch-csv")).to_be_visible()
        # A long operation says how far it got and how long it took.
        expect(page.locator("#compare-batch-status")).to_contain_text(re.compile(r"Done: \d+ answers in"))
        expect(page.locator("#compare-batch-cancel")).to_be_disabled()
        page.locator("#compare-tools").get_by_role("tab", name="General knowledge", exact=True).click()
        page.locator("#compare-general-tokens input").fill("8")
        page.locator("#compare-general-run").click()
        expect(page.locator("#compare-drift input")).not_to_have_value("", timeout=MODEL_WAIT)
        expect(page.locator('#compare-general [data-testid="cell-0-3"]')).not_to_have_text("")
        expect(page.locator("#compare-general-status")).to_contain_text(re.compile(r"Done: \d+ answers in"))
        shoot(page, "compare-tab", tmp_path)

        # Chat with the run: a streamed answer under the question.
        page.get_by_role("tab", name="Chat", exact=True).click()
        page.locator("#chat-model input").click()
        page.get_by_role("option", name=re.compile("^tiny-lora ·")).click()
        page.locator("#chat-max-new-tokens input").fill("12")
        page.locator("#chat-system-prompt textarea").fill("Answer with one word.")
        # One few-shot example, sent before the question.
        page.locator("#chat-examples-panel").get_by_text("Few-shot examples").click()
        page.locator("#chat-example-question textarea").fill("terrible service and cold soup")
        page.locator("#chat-example-answer textarea").fill("negative")
        page.locator("#chat-add-example").click()
        expect(page.locator('#chat-examples [data-testid="cell-0-1"]')).to_have_text("negative")
        page.locator("#chat-message textarea").fill("great food and friendly staff")
        page.locator("#chat-send").click()
        page.locator("#chat-history .bot").first.wait_for()
        expect(page.locator("#chat-history")).to_contain_text("great food and friendly staff")
        shoot(page, "chat-tab", tmp_path)

        # Export: the adapter as a zip to download, then merged into a full model folder.
        page.get_by_role("tab", name="Export", exact=True).click()
        page.locator("#export-zip").click()
        expect(page.locator("#export-download")).to_be_visible()
        page.locator("#export-merge").click()
        expect(page.locator("#export-folder textarea")).to_have_value(re.compile("tiny-lora-merged$"), timeout=MODEL_WAIT)
        expect(page.locator("#export-code")).to_contain_text("AutoModelForCausalLM.from_pretrained")
        shoot(page, "export-tab", tmp_path)
        # A second merge to the same folder is refused: the reason shows, the first merge's folder and code stay,
        # and the toast closes by itself.
        page.locator("#export-merge").click()
        expect(page.locator("#export-message")).to_contain_text("not empty", timeout=MODEL_WAIT)
        expect(page.locator("#export-folder textarea")).to_have_value(re.compile("tiny-lora-merged$"))
        expect(page.locator("#export-code")).to_contain_text("AutoModelForCausalLM.from_pretrained")
        expect(page.locator("#export-folder .error, #export-code .error")).to_have_count(0)
        expect(page.locator('[data-testid="toast-body"]')).to_have_count(0, timeout=20_000)
        browser.close()
    assert (workspace / "exports" / "tiny-lora-merged" / "config.json").exists()
