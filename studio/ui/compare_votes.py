"""The Compare tab's votes as data and its reward scores: the runs to compare (reward models apart), the list of
reward model runs, each answer's score beside it, and "Make a dataset from the votes" (a preference or KTO dataset in the workspace, which the
message names with its rows and the votes left out). What a handler writes is in the page's language.
"""

from __future__ import annotations

import gradio as gr

from studio.chat import finished_runs, run_label
from studio.jobs import JobManager
from studio.reward_scores import REWARD_STAGE, reward_run, scores
from studio.ui.common import user_errors
from studio.ui.i18n import i18n
from studio.ui.lang import say
from studio.votes import KINDS, BlindPair, make_dataset

NO_REWARD = ""  # the reward list's "none": no scores


def tuned_choices(manager: JobManager, current: str | None = None) -> dict:
    """The runs to compare with their base: the finished runs, newest first, but reward models (they score
    answers rather than write them); the choice is kept while it is still there."""
    trained = [run for run in finished_runs(manager.list_runs()) if run.stage != REWARD_STAGE]
    names = [run.name for run in trained]
    return {"choices": [(run_label(run), run.name) for run in trained],
            "value": current if current in names else (names[0] if names else None)}


def tuned_update(manager: JobManager, current: str | None = None) -> dict:
    return gr.update(**tuned_choices(manager, current))


def reward_choices(manager: JobManager, current: str | None = None) -> dict:
    """None, then the finished runs of stage rm, newest first; the choice is kept while it is still there."""
    trained = [run for run in finished_runs(manager.list_runs()) if run.stage == REWARD_STAGE]
    names = [run.name for run in trained]
    return {"choices": [(i18n("compare.reward_none"), NO_REWARD), *((run_label(run), run.name) for run in trained)],
            "value": current if current in names else NO_REWARD}


def reward_update(manager: JobManager, current: str | None = None) -> dict:
    return gr.update(**reward_choices(manager, current))


def kind_choices() -> list[tuple]:
    return [(i18n(f"compare.votes_kind.{kind}"), kind) for kind in KINDS]


def no_scores() -> list[str]:
    """Nothing beside the answers: a new compare, another mode."""
    return ["", ""]


@user_errors
def score_pair(reward: str | None, pair: BlindPair | None, request: gr.Request | None = None) -> list[str]:
    """The reward score beside each of the two answers (A and B as shown, in blind mode); nothing without a
    reward model or answers."""
    reward_dir = reward_run(reward)
    if reward_dir is None or not isinstance(pair, BlindPair) or not pair.answers:
        return no_scores()
    given = scores(reward_dir, [list(pair.messages)] * 2, list(pair.shown()))
    return [say(request, "compare.reward_score", score=score) for score in given]


@user_errors
def make_votes_dataset(run: str, kind: str, name: str, request: gr.Request | None = None) -> str:
    """The run's votes as a new workspace dataset; the line names it, its rows, and the votes left out."""
    made = make_dataset(run, kind, name)
    return say(request, "compare.votes_made", name=made["name"], kind=say(request, f"compare.votes_kind.{kind}"),
               rows=made["rows"], votes=made["votes"], **made["left_out"])
