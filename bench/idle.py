"""Idle cost: the CPU the app takes with no browser connected and nothing running, and how fast a click still starts.

    python -m bench.idle                     # app.py on a free loopback port, a fresh workspace, 20 s per sample
    python -m bench.idle --seconds 60 --json idle.json

- Idle: the app process's CPU time (user and system, all of its threads, read from /proc/PID/stat) over the
  sample once its page answers and start-up has settled, as percent of one core.
- After a page load: the same, sampled after one GET of the page and of its config, nothing left connected.
- Busiest threads: each thread's share of the idle sample (/proc/PID/task), to tell the server's event loop
  from the queue runner and the rest.
- Queue runner: what one `JobManager.advance` on an empty queue costs, timed in this process, and its share
  of a core at the runner's two-second interval.
- Event round trip: a handler without inputs (`saved_choices` by default) called over HTTP as a client calls
  it (POST /gradio_api/call/NAME, then its result stream), from the POST to the result; median and slowest.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import publish

PROJECT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_ticks(stat_path: Path) -> int:
    """utime + stime of a process (all its threads) or of one thread, in clock ticks."""
    fields = stat_path.read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), counted from the state (field 3)


def thread_ticks(pid: int) -> dict[str, int]:
    ticks = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            ticks[f"{task.name} {(task / 'comm').read_text().strip()}"] = cpu_ticks(task / "stat")
    return ticks


def sample(pid: int, seconds: float) -> tuple[float, dict[str, float]]:
    """Percent of one core the process took over `seconds`, and each thread's share (the busiest first)."""
    threads, start = thread_ticks(pid), cpu_ticks(Path(f"/proc/{pid}/stat"))
    began = time.monotonic()
    time.sleep(seconds)
    used = cpu_ticks(Path(f"/proc/{pid}/stat")) - start
    elapsed = time.monotonic() - began
    after = thread_ticks(pid)
    shares = {name: round(100 * (after[name] - threads.get(name, 0)) / TICKS / elapsed, 2) for name in after}
    busiest = dict(sorted(((name, share) for name, share in shares.items() if share > 0), key=lambda item: -item[1]))
    return round(100 * used / TICKS / elapsed, 2), busiest


@contextlib.contextmanager
def running_app(workspace: Path, limit: float = 120.0):
    """app.py on a free loopback port: (process, url) once its page answers; stopped on leaving."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, str(PROJECT / "app.py"), "--no-browser", "--port", str(port),
                                "--workspace", str(workspace)], cwd=PROJECT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + limit
        while not page_answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"app.py did not answer within {limit:.0f} s")
            time.sleep(0.2)
        yield process, url
    finally:
        process.terminate()
        process.wait(timeout=30)


def page_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def load_page(url: str) -> None:
    """What a browser fetches first: the page and its config."""
    for path in ("/", "/config"):
        with urllib.request.urlopen(f"{url}{path}", timeout=30) as response:
            response.read()


def call_event(url: str, name: str) -> float:
    """Seconds from posting a call of the handler `name` to its result, as a client of the HTTP API sees it."""
    start = time.perf_counter()
    request = urllib.request.Request(f"{url}/gradio_api/call/{name}", data=json.dumps({"data": []}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{url}/gradio_api/call/{name}/{event_id}", timeout=30) as stream:
        for line in stream:
            if line.startswith(b"event: complete"):
                return time.perf_counter() - start
            if line.startswith(b"event: error"):
                raise RuntimeError(f"{name} answered with an error: {stream.read()[:300]!r}")
    raise RuntimeError(f"{name}'s result stream ended without a result")


def round_trips(url: str, name: str, calls: int) -> dict:
    """Median and slowest round trip in milliseconds, calls spread at random moments (a poll's phase averages out)."""
    pace = random.Random(0)
    call_event(url, name)  # the first call warms up the handler's imports
    times = []
    for _ in range(calls):
        time.sleep(pace.uniform(0, 0.1))
        times.append(call_event(url, name))
    return {"median_ms": round(1000 * statistics.median(times), 1), "max_ms": round(1000 * max(times), 1),
            "calls": calls}


def runner_cost(workspace: Path, interval: float = 2.0, calls: int = 200) -> dict:
    """What one queue-runner step costs on an empty queue, and its share of a core at `interval` seconds."""
    os.environ["STUDIO_WORKSPACE"] = str(workspace)
    from studio.jobs import JobManager

    manager = JobManager()
    manager.advance()
    start = time.process_time()
    for _ in range(calls):
        manager.advance()
    step = (time.process_time() - start) / calls
    return {"step_ms": round(1000 * step, 3), "percent_of_core": round(100 * step / interval, 4)}


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="Length of each CPU sample.")
    parser.add_argument("--settle", type=float, default=5.0, help="Wait this long after the page answers first.")
    parser.add_argument("--calls", type=int, default=20, help="Event round trips to time.")
    parser.add_argument("--event", default="saved_choices", help="The handler (API name, no inputs) to call.")
    parser.add_argument("--json", help="Also write the results to this file.")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder, running_app(Path(folder)) as (process, url):
        time.sleep(args.settle)
        idle, threads = sample(process.pid, args.seconds)
        load_page(url)
        time.sleep(1)
        after_page, _ = sample(process.pid, args.seconds)
        trips = round_trips(url, args.event, args.calls)
        runner = runner_cost(Path(folder))
    report = {"cpu": cpu_model(), "cores": os.cpu_count(), "sample_seconds": args.seconds,
              "idle_cpu_percent": idle, "after_page_load_cpu_percent": after_page, "busiest_threads": threads,
              "queue_runner": runner, "event_round_trip": {"handler": args.event, **trips}}
    summary = (f"idle app: {idle}% of one core ({after_page}% after a page load), sampled {args.seconds:.0f} s on "
               f"{report['cpu']}; queue runner {runner['percent_of_core']}% ({runner['step_ms']} ms a step every "
               f"2 s); an event's round trip {trips['median_ms']} ms median, {trips['max_ms']} ms slowest")
    return publish(report, summary, args.json)


if __name__ == "__main__":
    main()
