"""What the UI tests share: a real browser (Playwright driving Debian's Chromium, headless), the app started as a
user starts it, and a request from a page switched to Chinese."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import PROJECT

CHROMIUM = Path("/usr/bin/chromium")
# An assertion waits this long for the page (Playwright's own default is 5 s): the tests run beside trainings in other
# workers, and a page that waits on the app may take longer on a busy machine.
EXPECT_WAIT = 20_000  # ms
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]


def browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not CHROMIUM.exists():
        reason = "needs playwright and Debian's chromium (apt-get install chromium)"
        if os.environ.get("STUDIO_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import expect
    expect.set_options(timeout=EXPECT_WAIT)
    return sync_playwright


def chinese_browser_page(playwright, url: str, size: tuple[int, int] = (1280, 800), timeout: int = 30_000):
    """Headless Chromium on the app, its language cookie set to Chinese as the header's switch sets it: (browser,
    page), the page opened."""
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, locale="en-US")
    context.add_cookies([{"name": "studio_lang", "value": "zh", "url": url}])
    page = context.new_page()
    page.set_default_timeout(timeout)
    page.goto(url)
    return browser, page


def set_slider(page, elem_id: str, value: str) -> None:
    """Type a value into a slider's number box and press Enter, as a person does, then let the page apply it: the
    slider hands its new value on a tick later, so a click sent at once could still carry the old one."""
    box = page.locator(f'#{elem_id} input[type="number"]')
    box.fill(value)
    box.press("Enter")
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def shoot(page, name: str, tmp_path: Path) -> None:
    """A full-page screenshot into STUDIO_SCREENSHOT_DIR when set (the README's pictures), else the test's folder."""
    folder = Path(os.environ.get("STUDIO_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def running_app(workspace: Path, *flags: str):
    """app.py as a user starts it, with `flags` added; what requests may reach comes from the flags alone."""
    port = free_port()
    log = open(workspace / "app.log", "w")
    environment = {key: value for key, value in os.environ.items() if not key.startswith("STUDIO_ALLOW")}
    process = subprocess.Popen([sys.executable, "app.py", "--no-browser", "--port", str(port), "--workspace",
                                str(workspace), *flags], cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT,
                               env=environment)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail(f"the app did not start: {(workspace / 'app.log').read_text()[-2000:]}")
    yield url, workspace
    process.terminate()
    process.wait(timeout=30)
    log.close()


def chinese_page(session: str = "page-1") -> SimpleNamespace:
    """A request from a page switched to Chinese (the header switch's cookie)."""
    return SimpleNamespace(headers={"accept-language": "en-US"}, cookies={"studio_lang": "zh"}, session_hash=session)


def tiny_settings(model_dir, dataset, **overrides) -> list:
    """Train-tab setting values (in widget order) for a short run of the tiny model on `dataset`."""
    from studio.config import load_config
    from studio.ui import train_form

    values = dict(base_model=str(model_dir), dataset=str(dataset), max_steps=4, batch_size=2, learning_rate=1e-2,
                  validation_split=0.2, eval_steps=2, save_steps=2, cutoff_length=64, probe_max_new_tokens=2)
    values.update(overrides)
    return train_form.setting_values(load_config(None, values))


def zh_page() -> SimpleNamespace:
    """A request from a page in Chinese (the header switch's cookie)."""
    from studio.ui.lang import LANGUAGE_COOKIE

    return SimpleNamespace(cookies={LANGUAGE_COOKIE: "zh"}, headers={})
