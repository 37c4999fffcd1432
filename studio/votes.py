"""Blind votes: what one records, the tally, and the training data colleagues' votes make.

A blind compare answers one prompt with the base model and the run in an order the voter cannot see
(`new_pair`); a vote on it (`record_vote`) appends one line to the run's votes.jsonl:

    {"time": 1760000000.0, "choice": "A", "winner": "tuned", "order": ["tuned", "base"],
     "prompt": "the question", "messages": [{"role": "system", ...}, {"role": "user", ...}],
     "answers": {"base": "...", "tuned": "..."}, "models": {"base": "<base model>", "tuned": "<run name>"},
     "settings": {"temperature": 0.7, "top_p": 0.9, "top_k": 50, "max_new_tokens": 256,
                  "repetition_penalty": 1.0, "seed": 2718281828}}

`winner` is base, tuned (the run) or tie. Lines written before votes held answers (time, winner, prompt,
temperature, seed) still count in the tally and are left out of the data, counted.

`make_dataset` turns a run's votes into a workspace dataset: `preference` rows (prompt, chosen = the
winner's answer, rejected = the other) for DPO / ORPO, or `feedback` rows (prompt, completion, label) for
KTO: the winner's answer labelled true, the other false. A tie says neither answer is better, not whether
either is good, so it makes no row of either kind; nor does a vote whose answers are empty or the same.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from studio import runs
from studio.compare import SIDES, base_of, compared_run
from studio.workspace import append_jsonl, read_jsonl

VOTES_FILE = runs.VOTES
CHOICES = ("A", "B", "tie")
KINDS = ("preference", "feedback")
LEFT_OUT = ("tie", "old", "unusable")  # why a vote makes no row: a tie, no answers kept, answers empty or the same


@dataclass(frozen=True)
class BlindPair:
    """One prompt answered by both sides of a compare: the run, what was sent, the settings (with the seed
    drawn in blind mode), which side shows as A and which as B, and the answers so far."""

    run: str
    messages: tuple
    settings: object  # studio.sampling.GenerationSettings
    order: tuple = SIDES
    blind: bool = False
    answers: dict = field(default_factory=dict)
    # The left column: the base model, or the tuned model again (at another precision); each column's precision.
    left: str = "base"
    precisions: tuple = ("auto", "auto")

    def answered(self, base: str, tuned: str) -> BlindPair:
        return replace(self, answers={"base": base, "tuned": tuned})

    def shown(self) -> tuple[str, str]:
        """The answers as A and B show them (base and tuned when not blind)."""
        return tuple(self.answers.get(side, "") for side in self.order)


def blind_order() -> tuple[str, ...]:
    """Which side shows as answer A and which as B."""
    return tuple(random.sample(SIDES, 2))


def new_pair(run: str | Path, messages: list[dict], settings, blind: bool, left: str = "base",
             precisions: tuple = ("auto", "auto")) -> BlindPair:
    """A compare about to be answered. Blind mode draws the order and a fresh seed: with the seed of an open
    compare a moment ago, the "blind" answers would be the ones just read with their labels. `left` and
    `precisions`: what the two columns show (see studio.pairs.stream_pair)."""
    name = compared_run(run).name
    shown = {"left": left, "precisions": tuple(precisions)}
    if not blind:
        return BlindPair(name, tuple(messages), settings, **shown)
    return BlindPair(name, tuple(messages), replace(settings, seed=random.randrange(2**32)), blind_order(), True,
                     **shown)


def vote_record(pair: BlindPair, choice: str, base_model: str) -> dict:
    """The votes.jsonl line for a vote on this pair (see the module's docstring)."""
    winner = {"A": pair.order[0], "B": pair.order[1], "tie": "tie"}[choice]
    return {"time": time.time(), "choice": choice, "winner": winner, "order": list(pair.order),
            "prompt": pair.messages[-1]["content"], "messages": [dict(message) for message in pair.messages],
            "answers": {side: pair.answers.get(side, "") for side in SIDES},
            "models": {"base": base_model if pair.left == "base" else pair.run, "tuned": pair.run},
            "precisions": dict(zip(SIDES, pair.precisions)), "settings": asdict(pair.settings)}


def record_vote(pair: BlindPair | None, choice: str) -> dict:
    """Append one vote (choice A, B or tie) on a blind pair to its run's votes.jsonl; returns the new tally."""
    if choice not in CHOICES:
        raise ValueError("A vote is A, B or tie.")
    if not isinstance(pair, BlindPair) or not pair.blind:
        raise ValueError("Compare in blind mode first, then vote.")
    run_dir = compared_run(pair.run)
    append_jsonl(run_dir / VOTES_FILE, vote_record(pair, choice, base_of(run_dir)))
    return vote_tally(run_dir)


def read_votes(run: str | Path) -> list[dict]:
    """The run's votes, oldest first (lines that are not votes are skipped)."""
    return [vote for vote in read_jsonl(compared_run(run) / VOTES_FILE)
            if isinstance(vote, dict) and vote.get("winner") in (*SIDES, "tie")]


def vote_tally(run: str | Path) -> dict:
    tally = Counter(vote["winner"] for vote in read_votes(run))
    counts = {side: tally[side] for side in (*SIDES, "tie")}
    return {**counts, "votes": sum(counts.values())}


# ---------------------------------------------------------------- votes as training data


def usable(vote: dict) -> str:
    """Why a vote makes no row ("tie", "old", "unusable"), or "" when it makes rows."""
    if vote["winner"] == "tie":
        return "tie"
    answers, messages = vote.get("answers"), vote.get("messages")
    if not isinstance(answers, dict) or not isinstance(messages, list) or not messages:
        return "old"
    texts = [answers.get(side) for side in SIDES]
    if not all(isinstance(text, str) and text.strip() for text in texts) or texts[0].strip() == texts[1].strip():
        return "unusable"
    return ""


def vote_rows(votes: list[dict], kind: str) -> tuple[list[dict], dict]:
    """(rows, how many votes were left out and why) of a dataset of this kind made from these votes."""
    if kind not in KINDS:
        raise ValueError(f"A dataset made from votes is preference or feedback, not '{kind}'.")
    rows, left_out = [], dict.fromkeys(LEFT_OUT, 0)
    for vote in votes:
        reason = usable(vote)
        if reason:
            left_out[reason] += 1
            continue
        prompt = [{"role": message["role"], "content": message["content"]} for message in vote["messages"]]
        winner = vote["winner"]
        chosen, rejected = vote["answers"][winner], vote["answers"][SIDES[1 - SIDES.index(winner)]]
        if kind == "preference":
            rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
        else:
            rows += [{"prompt": prompt, "completion": chosen, "label": True},
                     {"prompt": prompt, "completion": rejected, "label": False}]
    return rows, left_out


def dataset_name(run_dir: Path, kind: str, name: str) -> str:
    """The new dataset's name: the one given (refused if a dataset has it), or one made from the run's name and
    the kind that no dataset has yet (-2, -3, ... added)."""
    from studio.access import plain_name
    from studio.editing import unused_name, workspace_path
    from studio.workspace import safe_name

    if not str(name or "").strip():
        return unused_name(f"{run_dir.name}-votes-{'kto' if kind == 'feedback' else kind}")
    wanted = safe_name(plain_name(name, "dataset").removesuffix(".jsonl"), default="dataset")
    if workspace_path(wanted).exists():
        raise ValueError(f"A dataset named '{wanted}' is already in the workspace; choose another name (for "
                         f"example '{unused_name(wanted)}'), or leave the name empty for a new one.")
    return wanted


def make_dataset(run: str | Path, kind: str, name: str = "") -> dict:
    """Write the run's votes as a new workspace dataset of this kind (never over an existing one). Returns
    {"name", "path", "kind", "rows", "votes", "left_out": {"tie", "old", "unusable"}}."""
    from studio.data import write_jsonl
    from studio.editing import workspace_path

    if kind not in KINDS:
        raise ValueError(f"A dataset made from votes is preference or feedback, not '{kind}'.")
    run_dir = compared_run(run)
    votes = read_votes(run_dir)
    if not votes:
        raise ValueError(f"No blind votes on {run_dir.name} yet: compare in blind mode and vote first.")
    rows, left_out = vote_rows(votes, kind)
    if not rows:
        raise ValueError(f"None of the {len(votes)} votes on {run_dir.name} makes a row: {left_out['tie']} ties, "
                         f"{left_out['old']} old votes without answers, {left_out['unusable']} with empty or "
                         "identical answers.")
    check_rows(rows, kind)
    target = dataset_name(run_dir, kind, name)
    path = write_jsonl(workspace_path(target), rows)
    return {"name": target, "path": path, "kind": kind, "rows": len(rows), "votes": len(votes),
            "left_out": left_out}


def check_rows(rows: list[dict], kind: str) -> None:
    """The rows pass the dataset check of their shape (the feedback shape's, where studio.shapes has it)."""
    from studio.shapes import SHAPES, DatasetError, validate

    if kind in SHAPES:
        problems = validate(rows, kind)
        if problems:
            raise DatasetError(problems, source="The votes' rows")
