"""Every string the page shows in Chinese mode is Chinese, but for names a translation would break.

A real browser opens the app with the header switch's cookie set to Chinese, follows a finished run,
visits every tab with every accordion and inner tab open, and lists what a user can read: visible text,
placeholders and tooltips, chart axes and legends (SVG text), table headers and the studio's own table
cells. Each English word must be on the allow-list below: model, method and file names, data field
names, units, and what Gradio itself draws around the app.
"""

from __future__ import annotations

import re

import pytest

from tests.ui.conftest import browser_or_skip, chinese_browser_page, running_app

pytestmark = pytest.mark.slow

# Names that stay as they are in Chinese text.
ALLOWED = {
    # methods, stages, formats and libraries
    "LoRA", "QLoRA", "AdaLoRA", "DoRA", "IA", "P-Tuning", "Prefix", "Prompt", "Tuning", "Freeze", "DPO", "ORPO",
    "KTO", "SFT", "IPO", "PEFT", "GGUF", "JSON", "JSONL", "CSV", "HTML", "Modelfile", "TSV", "Python", "Jinja", "API", "CPU", "GPU",
    "ROUGE-L", "ROUGE", "BLEU", "Top-p", "Top-k", "alpha", "beta", "lambda", "sigmoid", "hinge", "ipo",
    "sigmoid_norm", "apo", "nca", "sppo", "bco", "aot", "discopop", "bf", "fp", "auto", "transformers",
    "bitsandbytes", "safetensors", "zip", "Enter", "Shift", "Ctrl", "SmolLM", "M-Instruct", "Instruct",
    "embedded", "chatml", "all-linear", "q_proj", "v_proj", "Ollama", "llama", "cpp", "OpenAI",
    # the settings' own names where the text quotes them (stage and method values, presets)
    "sft", "pretrain", "rm", "grpo", "dpo", "orpo", "kto", "lora", "qlora", "dora", "adalora", "freeze", "full", "ia3", "cpu",
    # data fields and files
    "instruction", "input", "output", "system", "history", "messages", "chosen", "rejected", "text", "prompt",
    "question", "answer", "response", "completion", "datasets", "exports", "runs", "adapter", "model", "jsonl",
    "json", "csv", "txt", "gguf", "log", "yaml", "config", "name",
    # units and abbreviations
    "tok", "GiB", "MiB", "GB", "MB", "ms", "ETA", "lr", "e-",
    "ID", "English",  # a hub id; the language switch offers English by its own name
    # Gradio's own frame around the app (its footer and settings), not the studio's text
    "Gradio", "Runs",
}
# Gradio's own words (tooltips of its buttons, its history panel), as whole strings.
GRADIO = {"Fullscreen", "Textbox", "View runs saved in this browser", "Copy table data", "processing |", "Copy",
          "Download", "Share", "Clear", "Reset to default value", "Empty value"}
# Whole strings that are names: files, folders, runs, paths, numbers with units.
NAME = re.compile(r"^[\w.+-]*[./_][\w./+-]*$|^[\w-]+\.(jsonl|json|csv|txt|yaml|gguf)$")


def english_words(text: str) -> list[str]:
    if text.strip() in GRADIO:
        return []
    words = []
    text = re.sub(r"\S*<[^<>]+>\S*", " ", text)  # a name pattern such as <名称>-train.jsonl
    for token in re.findall(r"[A-Za-z][\w'./+-]*", text):
        token = token.strip("'.,:;")
        if (not token or NAME.match(token) or token in ALLOWED or any(character.isdigit() for character in token)
                or re.fullmatch(r"[a-z]+(-[a-z]+)+", token) or "+" in token or len(token) == 1):
            continue
        words.append(token)
    return words


# What a user can read: visible text outside user content (chat messages, text boxes, data cells), the studio's
# own table cells (ids below), placeholders and tooltips, and chart text.
COLLECT = r"""
(ownTables) => {
  const out = [];
  const visible = (el) => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  const userContent = (el) => {
    if (el.closest('.message, .message-wrap, textarea, input, .cm-editor, code, pre')) return true;
    const cell = el.closest('td, [role="gridcell"]');
    return cell !== null && !ownTables.some((id) => cell.closest('#' + id));
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const text = node.textContent.trim();
    const parent = node.parentElement;
    if (!text || !parent || !visible(parent) || userContent(parent)) continue;
    out.push(text);
  }
  for (const el of document.querySelectorAll('[placeholder], [title]')) {
    if (!visible(el) || el.closest('td, [role="gridcell"]')) continue;
    for (const name of ['placeholder', 'title']) { const value = el.getAttribute(name); if (value) out.push(value); }
  }
  return out;
}
"""


def test_chinese_mode_shows_no_english_words(trained_workspace):
    sync_playwright = browser_or_skip()
    app = running_app(trained_workspace)
    url, workspace = next(app)
    try:
        with sync_playwright() as playwright:
            browser, page = chinese_browser_page(playwright, url)
            page.get_by_role("tab", name="训练").wait_for()
            shown: dict[str, str] = {}
            tabs = page.locator("#studio-tabs > .tab-wrapper [role='tab']")
            for index in range(tabs.count()):
                tabs.nth(index).click()
                page.wait_for_timeout(1500)
                panel = page.locator("[role='tabpanel']:visible").first
                for accordion in panel.locator("button.label-wrap:not(.open)").all():
                    if accordion.is_visible():
                        accordion.click()
                page.wait_for_timeout(500)
                inner = panel.locator("[role='tablist'] [role='tab']")
                for inner_index in range(max(inner.count(), 1)):
                    if inner.count():
                        inner.nth(inner_index).click()
                        page.wait_for_timeout(800)
                        for accordion in panel.locator("button.label-wrap:not(.open)").all():
                            if accordion.is_visible():
                                accordion.click()
                    for text in page.evaluate(COLLECT, OWN_TABLES):
                        for word in english_words(text):
                            shown.setdefault(word, text)
            browser.close()
    finally:
        next(app, None)
    report = "\n".join(f"{word!r} in {text[:120]!r}" for word, text in sorted(shown.items()))
    assert not shown, f"English in Chinese mode:\n{report}"


# Tables whose cells the studio writes (statuses, metric names), not the user's data.
OWN_TABLES = ["train-runs", "compare-batch-totals"]
