"""Tests for studio.tokens: label masks through the chat template, text blocks, what the model sees."""

from __future__ import annotations

import pytest

from studio import tokens
from studio.data import load_dataset
from studio.messages import to_messages
from studio.tokens import CHATML_TEMPLATE, IGNORED_LABEL, render_example, tokenize_sft, tokenize_text
from tests.conftest import (
    CHAT_ROW,
    FEEDBACK_ROWS,
    FIXTURES,
    INSTRUCTION_ROWS,
    PREFERENCE_ROW,
    TOOL_ROW,
    needs_fixtures,
    trained_text,
)


# -------------------------------------------------------------------------------- tokenising


def test_tokenize_sft_masks_the_prompt(tiny_tokenizer):
    examples, truncated = tokenize_sft(INSTRUCTION_ROWS[:1], "instruction", tiny_tokenizer, cutoff_length=512)
    assert truncated == 0
    example = examples[0]
    assert tokens._token_mask(tiny_tokenizer, to_messages(INSTRUCTION_ROWS[0], "instruction")) is not None
    rendered = tiny_tokenizer.apply_chat_template(to_messages(INSTRUCTION_ROWS[0], "instruction"), tokenize=False)
    assert tiny_tokenizer.decode(example["input_ids"]) == rendered
    assert trained_text(tiny_tokenizer, example) == "Paris.<|im_end|>\n"
    first_trained = next(index for index, label in enumerate(example["labels"]) if label != IGNORED_LABEL)
    assert all(label == IGNORED_LABEL for label in example["labels"][:first_trained])
    assert example["labels"][first_trained:] == example["input_ids"][first_trained:]


def test_tokenize_sft_train_on_prompt_and_multi_turn(tiny_tokenizer):
    examples, _ = tokenize_sft([CHAT_ROW], "chat", tiny_tokenizer, 512, train_on_prompt=True)
    assert examples[0]["labels"] == examples[0]["input_ids"]
    examples, _ = tokenize_sft([CHAT_ROW], "chat", tiny_tokenizer, 512)
    assert trained_text(tiny_tokenizer, examples[0]) == "Hello!<|im_end|>\nGoodbye!<|im_end|>\n"


def test_tokenize_sft_truncates_and_drops(tiny_tokenizer):
    full, _ = tokenize_sft([CHAT_ROW], "chat", tiny_tokenizer, 512)
    length = len(full[0]["input_ids"])
    cut, truncated = tokenize_sft([CHAT_ROW], "chat", tiny_tokenizer, length - 3)
    assert truncated == 1 and len(cut[0]["input_ids"]) == length - 3
    assert cut[0]["labels"] == full[0]["labels"][: length - 3]
    dropped, truncated = tokenize_sft([CHAT_ROW], "chat", tiny_tokenizer, 4)
    assert dropped == [] and truncated == 1


def test_tokenize_sft_tool_calls_and_preference(tiny_tokenizer):
    examples, _ = tokenize_sft([TOOL_ROW], "chat", tiny_tokenizer, 512)
    trained = trained_text(tiny_tokenizer, examples[0])
    assert '"arguments"' in trained and "It is 3 degrees" in trained and "temperature" not in trained
    examples, _ = tokenize_sft([PREFERENCE_ROW], "preference", tiny_tokenizer, 512)
    assert trained_text(tiny_tokenizer, examples[0]) == "Hi there!<|im_end|>\n"


def test_tokenize_sft_falls_back_when_template_rewrites_the_end(tiny_tokenizer):
    tokenizer = tiny_tokenizer.__class__(tokenizer_object=tiny_tokenizer.backend_tokenizer, eos_token="<|im_end|>")
    # Marks the final message, so a shorter conversation is not a prefix of the full one.
    tokenizer.chat_template = CHATML_TEMPLATE.replace("+ '<|im_end|>'", "+ ('!!' if loop.last else '') + '<|im_end|>'")
    examples, _ = tokenize_sft([CHAT_ROW], "chat", tokenizer, 512)
    trained = trained_text(tokenizer, examples[0])
    assert "Hello!<|im_end|>" in trained and "Goodbye!" in trained and "Bye" not in trained.replace("Goodbye", "")


def test_tokenize_sft_needs_a_chat_template(tiny_tokenizer):
    tokenizer = tiny_tokenizer.__class__(tokenizer_object=tiny_tokenizer.backend_tokenizer, eos_token="<|im_end|>")
    tokenizer.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        tokenize_sft(INSTRUCTION_ROWS, "instruction", tokenizer, 512)


def test_tokenize_text_blocks_keep_everything_but_a_lone_last_token(tiny_tokenizer):
    sentence = "The quick brown fox jumps over the lazy dog. "
    eos = tiny_tokenizer.eos_token_id
    ids = tiny_tokenizer(sentence * 3)["input_ids"] + [eos]
    assert len(ids) == 61  # 7 blocks of 8, then 5 tokens ending in end-of-text
    blocks = tokenize_text([{"text": sentence * 3}], tiny_tokenizer, cutoff_length=8)
    assert [len(block["input_ids"]) for block in blocks] == [8] * 7 + [5]
    assert [token for block in blocks for token in block["input_ids"]] == ids
    assert all(block["labels"] == block["input_ids"] for block in blocks)
    ids = tiny_tokenizer(sentence * 4)["input_ids"] + [eos]
    assert len(ids) == 81  # 10 blocks of 8, then the end-of-text alone: no next token to predict, so dropped
    blocks = tokenize_text([{"text": sentence * 4}], tiny_tokenizer, cutoff_length=8)
    assert [len(block["input_ids"]) for block in blocks] == [8] * 10
    assert [token for block in blocks for token in block["input_ids"]] == ids[:-1]
    assert blocks[-1]["input_ids"][-1] != eos


def test_render_example_pieces(tiny_tokenizer):
    pieces = render_example(CHAT_ROW, "chat", tiny_tokenizer)
    rendered = tiny_tokenizer.apply_chat_template(CHAT_ROW["messages"], tokenize=False)
    assert "".join(text for text, _ in pieces) == rendered
    assert [text for text, trained in pieces if trained] == ["Hello!<|im_end|>\n", "Goodbye!<|im_end|>\n"]
    assert pieces[0] == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                         "<|im_start|>assistant\n", False)
    assert render_example({"text": "raw"}, "text", tiny_tokenizer) == [("raw<|im_end|>", True)]


@needs_fixtures
def test_fixture_conversations_tokenise(tiny_tokenizer):
    for name, shape in [("glaive_toolcall_en_demo.json", "chat"), ("dpo_en_demo.json", "preference"),
                        ("identity.json", "instruction")]:
        rows = load_dataset(FIXTURES / name).rows[:20]
        examples, _ = tokenize_sft(rows, shape, tiny_tokenizer, cutoff_length=4096)
        assert len(examples) == 20
        assert all(any(label != IGNORED_LABEL for label in example["labels"]) for example in examples)


# -------------------------------------------------------------------------------- feedback (KTO)


def test_tokenize_feedback_keeps_each_answer_and_its_label(tiny_tokenizer):
    examples, truncated = tokens.tokenize_feedback(FEEDBACK_ROWS, tiny_tokenizer, cutoff_length=256)
    assert truncated == 0 and [example["label"] for example in examples] == [True, False, True, False, True]
    end = tiny_tokenizer.convert_tokens_to_ids("<|im_end|>")
    answers = ["Hi there!", "Go away.", "Hello!", "Whatever.", "bonjour"]
    for example, row, answer in zip(examples, FEEDBACK_ROWS, answers):
        prompt = tiny_tokenizer.decode(example["prompt_ids"])
        assert prompt == tiny_tokenizer.apply_chat_template(to_messages(row, "feedback")[:-1], tokenize=False,
                                                            add_generation_prompt=True)
        assert tiny_tokenizer.decode(example["completion_ids"]) == f"{answer}<|im_end|>\n"
        assert end in example["completion_ids"]  # the answer as a whole, where it stops included
    assert "Be brief." in tiny_tokenizer.decode(examples[2]["prompt_ids"])  # the system turn stays in the prompt


def test_tokenize_feedback_cuts_the_answer_and_drops_what_has_no_room(tiny_tokenizer):
    full, _ = tokens.tokenize_feedback(FEEDBACK_ROWS[:1], tiny_tokenizer, 256)
    prompt_length = len(full[0]["prompt_ids"])
    cut, truncated = tokens.tokenize_feedback(FEEDBACK_ROWS[:1], tiny_tokenizer, prompt_length + 2)
    assert truncated == 1 and cut[0]["completion_ids"] == full[0]["completion_ids"][:2]
    dropped, truncated = tokens.tokenize_feedback(FEEDBACK_ROWS[:1], tiny_tokenizer, prompt_length)
    assert dropped == [] and truncated == 1
    no_template = tiny_tokenizer.__class__(tokenizer_object=tiny_tokenizer.backend_tokenizer, eos_token="<|im_end|>")
    no_template.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        tokens.tokenize_feedback(FEEDBACK_ROWS, no_template, 256)


def test_what_the_model_sees_of_a_feedback_row(tiny_tokenizer):
    pieces = render_example(FEEDBACK_ROWS[1], "feedback", tiny_tokenizer)
    assert [text for text, trained in pieces if trained] == ["Go away.<|im_end|>\n"]
    assert tokens.token_count(FEEDBACK_ROWS[1], "feedback", tiny_tokenizer) == len(
        tiny_tokenizer.apply_chat_template(to_messages(FEEDBACK_ROWS[1], "feedback"), tokenize=True, return_dict=False))
