"""Chat: which models a user can talk to, and the messages a question is sent with.

A question goes out as: the system prompt, then the few-shot example pairs (in-context
learning, to set beside fine-tuning), then the conversation so far (unless it is asked on its
own), then the question.

    for history in stream_reply("embedded", "Answer briefly.", [("2+2?", "4")], [], "3+3?", settings):
        print(history[-1]["content"])

A reply may carry a caption (which model and settings made it) on its last line; captions and
all but the latest reply to a question stay on the page and never reach the model.

A model is named by one string, so the browser and API callers say the same thing: a base
model (`embedded`, a folder, a hub id), a run name in the workspace's runs/, or a folder
under exports/ (a merged model).
"""

from __future__ import annotations

import html
import re
import threading
from pathlib import Path
from typing import Iterator

from studio.runs import has_weights
from studio.config import EMBEDDED_MODEL
from studio.workspace import exports_dir, runs_dir

EXPORTS = "exports"  # how a merged export is named in the model list: exports/<folder>
ROLES = ("user", "assistant")
MAX_TEXT = 100_000  # characters in one question with its system prompt
BASE_LABEL = "{model} (base)"  # how a base model is named in the model list and in captions
# A caption is the reply's last line, small: "\n\n<sub>embedded (base) · temperature 0.7</sub>".
CAPTION = re.compile(r"\n\n<sub>[^<>\n]*</sub>\Z")


def finished_runs(runs: list) -> list:
    """The runs (RunInfo, newest first) a model can be loaded from: finished, with adapter/ or model/."""
    return [run for run in runs if run.status == "finished" and has_weights(Path(run.path))]


def merged_exports() -> list[Path]:
    """Full model folders written by an export (they load with plain transformers)."""
    return [path for path in sorted(exports_dir().iterdir()) if (path / "config.json").is_file()]


def run_label(run) -> str:
    return f"{run.name} · {run.method} · {run.dataset}"


def model_choices(runs: list, base_label: str = BASE_LABEL) -> list[tuple[str, str]]:
    """(label, value) for every model there is to chat with: the bases, finished runs, merged exports."""
    trained = finished_runs(runs)
    bases = list(dict.fromkeys([EMBEDDED_MODEL, *(run.base_model or EMBEDDED_MODEL for run in trained)]))
    return ([(base_label.format(model=base), base) for base in bases]
            + [(run_label(run), run.name) for run in trained]
            + [(f"{EXPORTS}/{path.name}", f"{EXPORTS}/{path.name}") for path in merged_exports()])


def is_trained(choice: str) -> bool:
    """Whether a model choice names trained weights (a run with adapter/ or model/, or a merged export)."""
    return choice.startswith(f"{EXPORTS}/") or ("/" not in choice and has_weights(runs_dir() / choice))


def model_name(choice: str | None, base_label: str = BASE_LABEL) -> str:
    """A model choice as the user reads it: a run or export by its name, a base model marked as the base."""
    choice = str(choice or EMBEDDED_MODEL).strip()
    return choice if is_trained(choice) else base_label.format(model=choice)


def model_source(choice: str | None) -> tuple[str | None, str | None]:
    """(base, trained) for cached_model: a run name or exports/ folder is trained weights, anything else a base.

    The choice comes from a request: a folder must be one the app may open (see studio.access)."""
    from studio.access import client_export, client_model, client_run, run_bases

    choice = str(choice or EMBEDDED_MODEL).strip()
    if choice.startswith(f"{EXPORTS}/"):
        folder = client_export(choice.split("/", 1)[1])
        if not (folder / "config.json").is_file():
            raise ValueError(f"{choice} is not a merged model folder.")
        return None, str(folder)
    if "/" not in choice and has_weights(runs_dir() / choice):
        return None, str(client_run(choice))
    return client_model(choice, run_bases()), None


def message_text(content) -> str:
    """The text of a chat message's content: a string, or a list of parts as the browser sends them."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "")
    if isinstance(content, (list, tuple)):
        return "".join(message_text(part) for part in content)
    return "" if content is None else str(content)


def cell_text(cell) -> str:
    """A table cell as text; an empty cell is None."""
    return "" if cell is None else str(cell).strip()


def example_pairs(rows) -> list[tuple[str, str]]:
    """Few-shot (question, answer) pairs from the rows of a two-column table; blank rows are skipped."""
    pairs = []
    for number, row in enumerate(rows or [], start=1):
        question, answer = (cell_text(cell) for cell in (list(row) + ["", ""])[:2])
        if not question and not answer:
            continue
        if not question or not answer:
            raise ValueError(f"Example {number} needs both a question and an answer (or neither, to skip it).")
        pairs.append((question, answer))
    return pairs


def captioned(answer: str, caption: str) -> str:
    """The answer with its caption as a small last line; no caption, the answer alone."""
    return f"{answer}\n\n<sub>{html.escape(caption)}</sub>" if caption else answer


def without_caption(text: str) -> str:
    return CAPTION.sub("", text)


def thread_messages(history) -> list[dict]:
    """The conversation as the page shows it, as plain {role, content} messages (the browser adds metadata and
    parts): captions and every answer to a question answered again are kept."""
    return [{"role": message["role"], "content": message_text(message.get("content"))}
            for message in history or [] if message.get("role") in ROLES]


def history_messages(history) -> list[dict]:
    """The conversation as the model reads it: captions left out, and of a question answered more than once
    only the latest answer (chat templates expect user and assistant turns in turn)."""
    turns: list[dict] = []
    for message in thread_messages(history):
        if message["role"] == "assistant":
            message = {"role": "assistant", "content": without_caption(message["content"])}
            if turns and turns[-1]["role"] == "assistant":
                turns[-1] = message
                continue
        turns.append(message)
    return turns


def last_question(history) -> tuple[int, str]:
    """(position, text) of the conversation's last question; ValueError when there is none yet."""
    thread = thread_messages(history)
    for index in range(len(thread) - 1, -1, -1):
        if thread[index]["role"] == "user":
            return index, thread[index]["content"]
    raise ValueError("There is no question to answer again yet; send one first.")


def build_messages(system_prompt: str, examples: list[tuple[str, str]], history, question: str) -> list[dict]:
    messages = [{"role": "system", "content": system_prompt.strip()}] if system_prompt and system_prompt.strip() else []
    for example_question, example_answer in examples:
        messages += [{"role": "user", "content": example_question}, {"role": "assistant", "content": example_answer}]
    return messages + history_messages(history) + [{"role": "user", "content": question}]


def fitted_messages(model, tokenizer, system_prompt: str, examples, history, question: str, max_new_tokens: int) -> list[dict]:
    """The messages to send, the oldest turns left out while the prompt and the answer would pass the model's
    context (the conversation on the page keeps them); ValueError when even the question alone does not fit."""
    from studio.generate import context_limit, prompt_ids

    limit = context_limit(model)
    turns = history_messages(history)
    while True:
        messages = build_messages(system_prompt, examples, turns, question)
        if limit is None:
            return messages
        length = prompt_ids(tokenizer, messages, "cpu")["input_ids"].shape[-1]
        if length + max_new_tokens <= limit:
            return messages
        if not turns:
            raise ValueError(f"The question with the system prompt and examples is {length:,} tokens; with "
                             f"{max_new_tokens} new tokens that passes the model's context of {limit:,}. Shorten "
                             "them or lower max new tokens.")
        turns = turns[2:] if len(turns) > 1 else []


def stream_reply(choice: str | None, system_prompt: str, examples: list[tuple[str, str]], history, question: str,
                 settings, stop: threading.Event | None = None, one_question: bool = False,
                 caption: str = "", precision: str = "auto", measured=None) -> Iterator[list[dict]]:
    """Yield the conversation with the question and its answer growing at its end. `one_question`: the model
    reads the question without the conversation before it (the page still shows it). `precision`: the weights'
    (studio.precision); `measured(speed) -> str`, when given, adds what the answer cost to its caption at the end
    (`speed` as studio.generate.model_speed gives it)."""
    shown = thread_messages(history) + [{"role": "user", "content": (question or "").strip()}]
    yield from answer_into(shown, choice, system_prompt, examples, [] if one_question else history, question,
                           settings, stop, caption, precision, measured)


def stream_again(choice: str | None, system_prompt: str, examples: list[tuple[str, str]], history, settings,
                 stop: threading.Event | None = None, one_question: bool = False,
                 caption: str = "", precision: str = "auto", measured=None) -> Iterator[list[dict]]:
    """Answer the conversation's last question again, with these settings: the new answer goes after the earlier
    ones, which stay to compare with. The model reads the turns before that question, not the earlier answers."""
    index, question = last_question(history)
    thread = thread_messages(history)
    yield from answer_into(thread, choice, system_prompt, examples, [] if one_question else thread[:index], question,
                           settings, stop, caption, precision, measured)


def answer_into(shown: list[dict], choice: str | None, system_prompt: str, examples: list[tuple[str, str]], context,
                question: str, settings, stop: threading.Event | None, caption: str, precision: str = "auto",
                measured=None) -> Iterator[list[dict]]:
    """Yield `shown` with the answer to `question` (asked after `context`) growing at its end, captioned."""
    from studio.generate import cached_model, stream_chat
    from studio.sampling import check_precision

    question = (question or "").strip()
    if not question:
        raise ValueError("Type a question first.")
    if len(question) + len(system_prompt or "") > MAX_TEXT:
        raise ValueError(f"The question and system prompt are longer than {MAX_TEXT:,} characters; shorten them.")
    model, tokenizer = cached_model(*model_source(choice), precision=check_precision(precision))
    messages = fitted_messages(model, tokenizer, system_prompt, examples, context, question, settings.max_new_tokens)
    yield shown + [{"role": "assistant", "content": captioned("", caption)}]
    text, speed = "", {}
    for text in stream_chat(model, tokenizer, messages, settings, stop, speed):
        yield shown + [{"role": "assistant", "content": captioned(text, caption)}]
    if measured is not None and speed:
        caption = " · ".join(part for part in (caption, measured(speed)) if part)
        yield shown + [{"role": "assistant", "content": captioned(text, caption)}]
