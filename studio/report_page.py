"""The page of a report (studio/report.py): its style, the escaped pieces it is made of (tables, facts, notes,
sections), its words in one language, and the file it becomes in the workspace's exports/. A page holds all it
shows: no script, no link, no font or image from elsewhere; every text in it is escaped here.
"""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path

from studio.report_words import check_language, metric_name, phrase
from studio.workspace import atomic_write_text, exports_dir, safe_name

TEXT_LIMIT = 400  # characters of a prompt or an answer shown
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","PingFang SC","Microsoft YaHei",sans-serif;
margin:0;color:#1f2937;background:#fff;line-height:1.45}
main{max-width:980px;margin:0 auto;padding:24px}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.25em;margin:28px 0 8px;border-bottom:1px solid #e5e7eb}
h3{font-size:1.05em;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:.92em;display:block;max-width:100%;overflow-x:auto}
th,td{border:1px solid #e5e7eb;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f9fafb}
td.text{max-width:360px;white-space:pre-wrap;word-break:break-word}
pre{background:#f9fafb;padding:8px;white-space:pre-wrap;word-break:break-word;font-size:.88em}
.note{color:#6b7280}.made{color:#6b7280;font-size:.9em}
svg{max-width:100%;color:#374151}
"""


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def clip(text, limit: int = TEXT_LIMIT) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit] + "…"


def figure(value, digits: int = 4) -> str:
    """A measured number as the report shows it: losses and metrics to four decimals (times, speeds and sizes to
    fewer `digits`), counts whole, "—" for none."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.{digits}f}"


def table(headers: list[str], rows: list[list], text_columns: tuple = ()) -> str:
    """An HTML table of escaped cells (a long text column wraps)."""
    head = "".join(f"<th>{esc(header)}</th>" for header in headers)
    body = "".join("<tr>" + "".join(f'<td class="text">{esc(clip(cell))}</td>' if index in text_columns
                                    else f"<td>{esc(cell)}</td>" for index, cell in enumerate(row)) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def facts(pairs: list[tuple[str, object]]) -> str:
    """A table of labels and values, one a row, leaving out what is None."""
    body = "".join(f"<tr><th>{esc(label)}</th><td>{esc(value)}</td></tr>"
                   for label, value in pairs if value is not None)
    return f"<table><tbody>{body}</tbody></table>"


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def section(title: str, *parts: str) -> str:
    return f"<section><h2>{esc(title)}</h2>{''.join(parts)}</section>"


def page(title: str, body: list[str], language: str) -> str:
    made = phrase(language, "made", time=datetime.now().strftime("%Y-%m-%d %H:%M"))
    return (f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)}</title>'
            f"<style>{STYLE}</style></head><body><main><h1>{esc(title)}</h1>"
            f'<p class="made">{esc(made)}</p>{"".join(body)}</main></body></html>\n')


def write_page(stem: str, title: str, body: list[str], language: str) -> Path:
    return atomic_write_text(exports_dir() / f"{safe_name(stem, default='report')}.html", page(title, body, language))


class Words:
    """The report's words in one language: words("section.data"), words.metric("exact_match")."""

    def __init__(self, language: str):
        self.language = check_language(language)

    def __call__(self, key: str, **values) -> str:
        return phrase(self.language, key, **values)

    def metric(self, name: str) -> str:
        return metric_name(self.language, name)

    def status(self, status: str) -> str:
        return self(f"status.{status}") if status in STATUSES else status


STATUSES = ("finished", "aborted", "failed", "running", "queued", "created")
