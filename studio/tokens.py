"""Tokenising for training: conversations through the model's chat template, with label masks.

Only the assistant turns are learned unless `train_on_prompt`; `render_example` shows the same
split as text ("what the model sees"), for the UI and for checking a template by eye.
"""

from __future__ import annotations

import math

from jinja2.exceptions import TemplateError

from studio.messages import feedback_parts, preference_parts, to_messages, training_messages

IGNORED_LABEL = -100  # the label value that PyTorch's cross-entropy skips: a token not learned
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
NO_CHAT_TEMPLATE = (
    "The model has no chat template, which SFT on instruction/chat data needs. Use a chat (instruct) "
    "model, set chat_template: chatml, or use stage pretrain for raw text."
)


def _require_template(tokenizer) -> None:
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(NO_CHAT_TEMPLATE)


def _render(tokenizer, messages: list[dict], add_generation_prompt=False, tokenize=False):
    """The chat template's text, or its token ids; an empty conversation renders as nothing."""
    if not messages:
        return [] if tokenize else ""
    result = tokenizer.apply_chat_template(messages, tokenize=tokenize, return_dict=False,
                                           add_generation_prompt=add_generation_prompt)
    if tokenize and hasattr(result, "keys"):  # some tokenizers return a BatchEncoding regardless
        result = result["input_ids"]
    return list(result) if tokenize else result


def _token_mask(tokenizer, messages: list[dict]) -> tuple[list[int], list[bool]] | None:
    """Ids and trained flags from token-level prefixes; None when the template is not prefix-consistent."""
    input_ids = _render(tokenizer, messages, tokenize=True)
    trained = [False] * len(input_ids)
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:index], add_generation_prompt=True, tokenize=True)
        through = _render(tokenizer, messages[: index + 1], tokenize=True)
        if through[: len(before)] != before or input_ids[: len(through)] != through:
            return None
        trained[len(before): len(through)] = [True] * (len(through) - len(before))
    return input_ids, trained


def _text_spans(tokenizer, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and the character spans of the assistant turns in it."""
    full_text = _render(tokenizer, messages)
    spans, cursor = [], 0
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = _render(tokenizer, messages[:index], add_generation_prompt=True)
        through = _render(tokenizer, messages[: index + 1])
        if full_text.startswith(through) and through.startswith(before) and len(before) >= cursor:
            spans.append((len(before), len(through)))
        else:  # templates that rewrite earlier turns: find the reply's own text instead
            start = full_text.find(message["content"], cursor)
            if start < 0:
                continue
            end = start + len(message["content"])
            if tokenizer.eos_token and full_text.startswith(tokenizer.eos_token, end):
                end += len(tokenizer.eos_token)  # so the model still learns where its reply stops
            spans.append((start, end))
        cursor = spans[-1][1]
    return full_text, spans


def _with_end_of_reply(tokenizer, input_ids: list[int], trained: list[bool]) -> tuple[list[int], list[bool]]:
    """Ids and flags with a learned end-of-text after the last reply when the template gives it no end token.

    Some templates (GLM-4's) end a reply only where the next turn starts; without this the model
    would never learn to stop after its answer.
    """
    eos = tokenizer.eos_token_id
    if eos is None or not trained or not trained[-1]:
        return input_ids, trained
    start = len(trained)
    while start > 0 and trained[start - 1]:
        start -= 1
    if set(input_ids[start:]) & set(tokenizer.all_special_ids):
        return input_ids, trained
    return input_ids + [eos], trained + [True]


def _pieces(text: str, spans: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    pieces, cursor = [], 0
    for start, end in spans:
        if start > cursor:
            pieces.append((text[cursor:start], False))
        pieces.append((text[start:end], True))
        cursor = end
    if cursor < len(text):
        pieces.append((text[cursor:], False))
    return [piece for piece in pieces if piece[0]]


def _text_mask(tokenizer, messages: list[dict]) -> tuple[list[int], list[bool]]:
    full_text, spans = _text_spans(tokenizer, messages)
    if getattr(tokenizer, "is_fast", False):
        encoding = tokenizer(full_text, add_special_tokens=False, return_offsets_mapping=True)
        trained = [any(start <= offset[0] < end for start, end in spans) for offset in encoding["offset_mapping"]]
        return list(encoding["input_ids"]), trained
    input_ids, trained = [], []  # no offsets from slow tokenizers: tokenise each piece on its own
    for piece, is_trained in _pieces(full_text, spans):
        ids = tokenizer.encode(piece, add_special_tokens=False)
        input_ids += ids
        trained += [is_trained] * len(ids)
    return input_ids, trained


def tokenize_sft(rows, shape, tokenizer, cutoff_length, train_on_prompt=False) -> tuple[list[dict], int]:
    """Examples with labels on the assistant turns only, and how many rows were cut or dropped."""
    _require_template(tokenizer)
    if shape == "text":
        raise ValueError("Text rows have no prompt and reply to mask; train them with stage pretrain.")
    examples, truncated = [], 0
    for number, row in enumerate(rows, 1):
        messages = training_messages(row, shape)
        try:
            input_ids, trained = _token_mask(tokenizer, messages) or _text_mask(tokenizer, messages)
        except TemplateError as error:
            raise ValueError(f"Row {number}: the model's chat template cannot render this conversation ({error}). "
                             "Fix the row or use a model whose template allows these roles.") from error
        input_ids, trained = _with_end_of_reply(tokenizer, input_ids, trained)
        if train_on_prompt:
            labels = list(input_ids)
        else:
            labels = [token if is_trained else IGNORED_LABEL for token, is_trained in zip(input_ids, trained)]
        was_cut = len(input_ids) > cutoff_length
        input_ids, labels = input_ids[:cutoff_length], labels[:cutoff_length]
        if all(label == IGNORED_LABEL for label in labels):  # nothing left to learn from this row
            truncated += 1
            continue
        truncated += was_cut
        examples.append({"input_ids": input_ids, "labels": labels})
    return examples, truncated


def tokenize_text(rows, tokenizer, cutoff_length) -> list[dict]:
    """Pre-training examples: each text plus end-of-text, long texts cut into cutoff-length blocks."""
    examples = []
    for row in rows:
        input_ids = list(tokenizer(row["text"])["input_ids"])
        if tokenizer.eos_token_id is not None and input_ids[-1:] != [tokenizer.eos_token_id]:
            input_ids.append(tokenizer.eos_token_id)
        for start in range(0, len(input_ids), cutoff_length):
            block = input_ids[start: start + cutoff_length]
            if len(block) > 1:  # a single token has no next token to predict
                examples.append({"input_ids": block, "labels": list(block)})
    return examples


def render_example(row, shape, tokenizer) -> list[tuple[str, bool]]:
    """What the model sees: the rendered text in pieces, each flagged trained (True) or masked."""
    if shape == "text":
        return [(row["text"] + (tokenizer.eos_token or ""), True)]
    _require_template(tokenizer)
    pieces = _pieces(*_text_spans(tokenizer, training_messages(row, shape)))
    # The end-of-text tokenize_sft adds after a last reply that carries no end token (see _with_end_of_reply).
    if (pieces and pieces[-1][1] and tokenizer.eos_token
            and not any(token in pieces[-1][0] for token in tokenizer.all_special_tokens)):
        pieces[-1] = (pieces[-1][0] + tokenizer.eos_token, True)
    return pieces


def token_count(row: dict, shape: str, tokenizer) -> int:
    if shape == "text":
        return len(tokenizer(row["text"])["input_ids"]) + 1  # + end-of-text
    _require_template(tokenizer)
    return len(_render(tokenizer, training_messages(row, shape), tokenize=True))


def length_summary(lengths: list[int]) -> dict:
    if not lengths:
        return {"min": 0, "mean": 0.0, "max": 0, "p95": 0}
    ordered = sorted(lengths)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return {"min": ordered[0], "mean": round(sum(ordered) / len(ordered), 1), "max": ordered[-1], "p95": p95}


def _chat_ids(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False,
                                        add_generation_prompt=add_generation_prompt)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)


def _common_prefix(first: list[int], second: list[int]) -> int:
    length = 0
    for one, other in zip(first, second):
        if one != other:
            break
        length += 1
    return length


def tokenize_pairs(rows: list[dict], tokenizer, cutoff_length: int) -> tuple[list[dict], int]:
    """{"prompt_ids", "chosen_ids", "rejected_ids"} per row through the chat template, and how many rows
    were cut or dropped. Each answer keeps the template's end-of-turn tokens, so the model learns where
    an answer stops; answers are cut so that prompt + answer fits in `cutoff_length`."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(NO_CHAT_TEMPLATE)
    examples, truncated = [], 0
    for row in rows:
        prompt, chosen, rejected = preference_parts(row)
        prompt_ids = _chat_ids(tokenizer, prompt, add_generation_prompt=True)
        chosen_full = _chat_ids(tokenizer, prompt + [{"role": "assistant", "content": chosen}])
        rejected_full = _chat_ids(tokenizer, prompt + [{"role": "assistant", "content": rejected}])
        # Templates that render the prompt differently on its own: the answer starts where they part.
        start = min(_common_prefix(prompt_ids, chosen_full), _common_prefix(prompt_ids, rejected_full))
        room = cutoff_length - start
        chosen_ids, rejected_ids = chosen_full[start:], rejected_full[start:]
        if room < 1 or chosen_ids[:room] == rejected_ids[:room]:  # nothing left to tell the answers apart
            truncated += 1
            continue
        truncated += len(chosen_ids) > room or len(rejected_ids) > room
        examples.append({"prompt_ids": chosen_full[:start], "chosen_ids": chosen_ids[:room],
                         "rejected_ids": rejected_ids[:room]})
    return examples, truncated


def tokenize_feedback(rows: list[dict], tokenizer, cutoff_length: int) -> tuple[list[dict], int]:
    """{"prompt_ids", "completion_ids", "label"} per row through the chat template (KTO's unpaired examples), and
    how many rows were cut or dropped. The answer keeps the template's end-of-turn tokens, so the model learns
    where it stops (or, for a bad answer, that it is unlikely as a whole); it is cut so that prompt + answer fits
    in `cutoff_length`, and a row whose prompt leaves no room for it is dropped."""
    _require_template(tokenizer)
    examples, truncated = [], 0
    for row in rows:
        prompt, answer, label = feedback_parts(row)
        prompt_ids = _chat_ids(tokenizer, prompt, add_generation_prompt=True)
        full = _chat_ids(tokenizer, prompt + [{"role": "assistant", "content": answer}])
        # Templates that render the prompt differently on its own: the answer starts where they part.
        start = _common_prefix(prompt_ids, full)
        room = cutoff_length - start
        if room < 1 or start == len(full):
            truncated += 1
            continue
        truncated += len(full) - start > room
        examples.append({"prompt_ids": full[:start], "completion_ids": full[start:][:room], "label": bool(label)})
    return examples, truncated


def tokenize_prompts(rows: list[dict], shape: str, tokenizer, cutoff_length: int, max_new_tokens: int,
                     generations: int) -> tuple[list[dict], int]:
    """GRPO's examples: per row the conversation up to its last answer (`prompt`, the messages TRL renders and samples
    answers to), that answer (`reference`, which the rewards compare with), and for counting (the plan, the
    estimate) the prompt's ids through the chat template, the reference's ids as a stand-in for a sampled answer
    (cut to `max_new_tokens`) and the `generations` sampled per prompt; and how many rows were dropped: those whose
    prompt leaves no room for an answer within `cutoff_length`."""
    _require_template(tokenizer)
    examples, truncated = [], 0
    for number, row in enumerate(rows, 1):
        messages = to_messages(row, shape)
        if not messages or messages[-1]["role"] != "assistant":
            raise ValueError(f"Row {number}: GRPO needs each row to end with an answer, the reference its rewards "
                             "compare with.")
        prompt, reference = messages[:-1], messages[-1]["content"]
        prompt_ids = _chat_ids(tokenizer, prompt, add_generation_prompt=True)
        if len(prompt_ids) >= cutoff_length:
            truncated += 1
            continue
        answer_ids = list(tokenizer(reference, add_special_tokens=False)["input_ids"])
        if tokenizer.eos_token_id is not None:
            answer_ids.append(tokenizer.eos_token_id)
        examples.append({"prompt": prompt, "reference": reference, "prompt_ids": prompt_ids,
                         "answer_ids": answer_ids[:max_new_tokens], "generations": generations})
    return examples, truncated
