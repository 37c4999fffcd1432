"""What every recipe shares, end to end on the tiny model: the summary's peak memory, and the held-out evaluation
after a finished run, whose failure leaves the run finished with the error beside it."""

from __future__ import annotations

from studio import compare, runs
from studio.events import read_events
from studio.training import run_training
from studio.training.common import peak_memory_mb
from tests.conftest import PAIRS, job_config, write_jsonl


def test_peak_memory_is_the_processes_own_in_mib():
    import resource

    peak = peak_memory_mb()
    assert peak > 10 and abs(peak - resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024) < 1


def test_a_heldout_evaluation_that_fails_leaves_the_run_finished_with_the_error(workspace, tiny_model_dir,
                                                                               tiny_sft_file, tmp_path):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": prompt, "chosen": chosen, "rejected": rejected}
                                                   for prompt, chosen, rejected in PAIRS])
    run_dir = workspace / "runs" / "heldout-fails"
    summary = run_training(job_config(tiny_model_dir, tiny_sft_file, run_dir, max_steps=2, eval_steps=0,
                                      heldout=str(pairs), heldout_rows=2))
    assert summary["status"] == "finished" == runs.read_summary(run_dir)["status"]
    assert summary["heldout"] is None and "instruction or chat rows" in summary["heldout_error"]
    assert summary["peak_memory_mb"] > 0 and runs.has_weights(run_dir)
    assert compare.stored_heldout(run_dir) is None
    ends = [event for event in read_events(run_dir) if event.get("event") in ("heldout", "finished")]
    assert [event["event"] for event in ends] == ["heldout", "finished"] and ends[0]["error"] == summary["heldout_error"]
