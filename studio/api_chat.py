"""A chat completion request to the OpenAI-compatible API (studio.serve): read, checked, and answered with the
studio's own chat code.

    ask = chat_request(body, "embedded")            # ApiError (a 4xx) for anything missing or out of bounds
    job = prepare(model, tokenizer, ask)            # the messages fitted to the model's context
    for piece in answer_pieces(job, answer, stop):  # the answer's new text as it is written
        ...

Bounds: the sampling ranges of studio.sampling (RANGES); MAX_TEXT characters of messages in all
(studio.chat); at most MAX_MESSAGES messages and MAX_STOPS stop strings. A setting left out takes Chat's default
(studio.sampling.DEFAULTS), except the seed: without one, each answer is a new draw, as with OpenAI.
Fields this server does not know are ignored. Beside OpenAI's fields, `top_k` and `repetition_penalty` are read.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Iterator

from studio.chat import MAX_TEXT, fitted_messages
from studio.sampling import DEFAULTS, RANGES, GenerationSettings, generation_settings

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
MAX_MESSAGES = 1000
MAX_STOPS = 4
MAX_STOP_LENGTH = 200
WHOLE_NUMBERS = ("top_k", "max_new_tokens", "seed")


class ApiError(Exception):
    """A request refused: its HTTP status and OpenAI's error fields."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.param = status, message, kind, code, param

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


@dataclass
class Ask:
    """What a request asks: the system prompt, the turns before the question, the question, and how to answer."""

    system: str
    history: list[dict]
    question: str
    settings: GenerationSettings
    stops: list[str]
    stream: bool = False
    include_usage: bool = False


@dataclass
class Job:
    """A request ready to answer: the model, the messages it reads and the prompt's length in tokens."""

    model: object
    tokenizer: object
    messages: list[dict]
    settings: GenerationSettings
    stops: list[str]
    prompt_tokens: int


def shown(value, limit: int = 60) -> str:
    """A value a request sent, short enough to quote in a message."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def chat_request(body, served: str) -> Ask:
    """The request's fields, each checked; ApiError 404 when it names another model than `served`."""
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object with model and messages.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, f'Name the model to answer: "model": "{served}".', param="model")
    if model != served:
        raise ApiError(404, f"The model '{shown(model)}' is not served here; this server serves '{served}'.",
                       code="model_not_found", param="model")
    count = body.get("n")
    if count is not None and (isinstance(count, bool) or count != 1):
        raise ApiError(400, f"n must be 1: this server writes one answer per request (it is {shown(count)}).",
                       param="n")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ApiError(400, 'stream_options must be an object such as {"include_usage": true}.',
                       param="stream_options")
    stream = flag(body, "stream", "stream")
    include_usage = flag(options or {}, "include_usage", "stream_options.include_usage")
    system, history, question = conversation(body.get("messages"))
    return Ask(system, history, question, sampling(body), stop_strings(body.get("stop")), stream, include_usage)


def flag(fields: dict, name: str, label: str) -> bool:
    value = fields.get(name)
    if value is not None and not isinstance(value, bool):
        raise ApiError(400, f"{label} must be true or false (it is {shown(value)}).", param=label)
    return bool(value)


def number_text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def sampling(body: dict) -> GenerationSettings:
    """The sampling settings: each in its RANGES, whole numbers where the setting counts; Chat's defaults for those
    left out (or null); no seed, a new draw each time."""
    tokens = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    fields = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "max_new_tokens": tokens,
              "repetition_penalty": "repetition_penalty", "seed": "seed"}
    values = {}
    for setting, field in fields.items():
        value = body.get(field)
        if value is None:
            values[setting] = None if setting == "seed" else getattr(DEFAULTS, setting)
            continue
        low, high = RANGES[setting]
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or not low <= value <= high):
            raise ApiError(400, f"{field} must be a number from {number_text(low)} to {number_text(high)} "
                                f"(it is {shown(value)}).", param=field)
        if setting in WHOLE_NUMBERS and value != int(value):
            raise ApiError(400, f"{field} must be a whole number (it is {shown(value)}).", param=field)
        values[setting] = value
    return generation_settings(**values)


def content_text(content, number: int) -> str:
    """A message's text: a string, or a list of text parts ({"type": "text", "text": ...}); null is empty."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise ApiError(400, f"messages[{number}] has a part of type '{shown(kind)}': this server reads text "
                                    "parts only.", param=f"messages[{number}].content")
            texts.append(part["text"])
        return "".join(texts)
    raise ApiError(400, f"messages[{number}].content must be a string or a list of text parts.",
                   param=f"messages[{number}].content")


def conversation(messages) -> tuple[str, list[dict], str]:
    """(system prompt, the turns before the question, the question) from OpenAI's messages: system (or
    developer) messages make the system prompt; the last message is the user's question."""
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, 'messages must be a list of {"role", "content"} objects ending with the user\'s question.',
                       param="messages")
    if len(messages) > MAX_MESSAGES:
        raise ApiError(400, f"{len(messages):,} messages is more than this server takes ({MAX_MESSAGES:,}); send "
                            "fewer turns.", param="messages")
    system, turns, characters = [], [], 0
    for number, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            raise ApiError(400, f"messages[{number}] needs a role of system, user or assistant (it is "
                                f"{shown(role)}).", param=f"messages[{number}].role")
        text = content_text(message.get("content"), number)
        characters += len(text)
        if ROLES[role] == "system":
            system.append(text)
        else:
            turns.append({"role": ROLES[role], "content": text})
    if characters > MAX_TEXT:
        raise ApiError(400, f"The messages hold {characters:,} characters, more than {MAX_TEXT:,}; shorten them.",
                       param="messages")
    if not turns or turns[-1]["role"] != "user" or not turns[-1]["content"].strip():
        raise ApiError(400, "The last message must be the user's question, with text.", param="messages")
    return "\n\n".join(text for text in system if text.strip()), turns[:-1], turns[-1]["content"]


def stop_strings(value) -> list[str]:
    stops = [value] if isinstance(value, str) else [] if value is None else value
    if (not isinstance(stops, list) or len(stops) > MAX_STOPS
            or not all(isinstance(stop, str) and 0 < len(stop) <= MAX_STOP_LENGTH for stop in stops)):
        raise ApiError(400, f"stop must be a string or a list of up to {MAX_STOPS} strings, each of 1 to "
                            f"{MAX_STOP_LENGTH} characters.", param="stop")
    return stops


def prepare(model, tokenizer, ask: Ask) -> Job:
    """The messages the model reads (the oldest turns left out while they would pass its context, as in Chat) and
    the prompt's length; ValueError when even the question does not fit or the chat template refuses them."""
    from jinja2 import TemplateError

    from studio.generate import prompt_ids

    try:
        messages = fitted_messages(model, tokenizer, ask.system, [], ask.history, ask.question,
                                   ask.settings.max_new_tokens)
        prompt_tokens = int(prompt_ids(tokenizer, messages, "cpu")["input_ids"].shape[-1])
    except TemplateError as error:
        raise ValueError(f"The model's chat template refused these messages: {error}") from None
    return Job(model, tokenizer, messages, ask.settings, ask.stops, prompt_tokens)


class Answer:
    """An answer as it is written: the whole text (cut at a stop string), the part sent, why it ended, its tokens."""

    def __init__(self, prompt_tokens: int):
        self.text = self.sent = ""
        self.finish_reason = "stop"
        self.prompt_tokens, self.completion_tokens = prompt_tokens, 0

    def take(self, text: str) -> str:
        """What `text` adds to the part sent, now sent too; '' when it adds nothing."""
        if len(text) <= len(self.sent) or not text.startswith(self.sent):
            return ""
        piece, self.sent = text[len(self.sent):], text
        return piece

    def usage(self) -> dict:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}


class CountingTokenizer:
    """The model's tokenizer, counting the answer's tokens as they are decoded: `stream_chat` decodes the whole
    answer so far after each step (model.generate's streamer, a stretch at a time)."""

    def __init__(self, tokenizer):
        self.tokenizer, self.tokens, self.earlier, self.last = tokenizer, 0, 0, []

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)

    def __call__(self, *args, **kwargs):
        return self.tokenizer(*args, **kwargs)

    def decode(self, ids, *args, **kwargs):
        ids = list(ids)
        if len(ids) < len(self.last) or (self.last and ids[len(self.last) - 1] != self.last[-1]):
            self.earlier += len(self.last)  # a new stretch
        self.last, self.tokens = ids, self.earlier + len(ids)
        return self.tokenizer.decode(ids, *args, **kwargs)


def first_stop(text: str, stops: list[str], start: int = 0) -> int | None:
    """Where the first stop string in `text` begins (searching from `start`), or None."""
    found = [index for index in (text.find(stop, start) for stop in stops) if index >= 0]
    return min(found) if found else None


def settled(text: str, stops: list[str]) -> str:
    """The part of `text` that can be sent: without an unfinished character at its end, nor an ending that a stop
    string may begin with."""
    text = text.rstrip("\ufffd")
    held = 0
    for stop in stops:
        for length in range(min(len(stop) - 1, len(text)), held, -1):
            if text.endswith(stop[:length]):
                held = length
                break
    return text[:len(text) - held]


def answer_pieces(job: Job, answer: Answer, stop: threading.Event) -> Iterator[str]:
    """Yield the answer's new text as the model writes it, into `answer`; it ends at the first stop string, at
    max_new_tokens (finish_reason "length") or at `stop.set()`. Closing it frees the model at once."""
    from studio.generate import stream_chat

    counter = CountingTokenizer(job.tokenizer)
    stream = stream_chat(job.model, counter, job.messages, job.settings, stop)
    try:
        for text in stream:
            cut = first_stop(text, job.stops, max(0, len(answer.sent) - MAX_STOP_LENGTH))
            answer.text = text if cut is None else text[:cut]
            if cut is not None:
                break
            piece = answer.take(settled(text, job.stops))
            if piece:
                yield piece
        else:
            if counter.tokens >= job.settings.max_new_tokens:
                answer.finish_reason = "length"
        piece = answer.take(answer.text)
        if piece:
            yield piece
    finally:
        stream.close()
        answer.completion_tokens = counter.tokens


def drain(pieces: Iterator[str]) -> Exception | None:
    """Run an answer to its end (for a whole response); the error it ended with, if any."""
    try:
        for _ in pieces:
            pass
    except Exception as error:  # handed to the caller, which answers with it
        return error
    return None
