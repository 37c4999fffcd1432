"""How many pytest workers ./test.sh starts: one per core, at most 4, and no more than one per 6 GiB of memory
(a worker that trains the embedded model holds about 5 GB at its peak); 0 (one process) where that is one."""

import os

MAX_WORKERS = 4
GIB_PER_WORKER = 6


def available_gib() -> float:
    try:
        with open("/proc/meminfo") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        return int(fields["MemAvailable"].split()[0]) / 2 ** 20
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30


def cores() -> int:
    """The cores this process may run on (a container's share, not the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def workers() -> int:
    count = max(1, min(cores(), MAX_WORKERS, int(available_gib() // GIB_PER_WORKER)))
    return 0 if count == 1 else count


if __name__ == "__main__":
    print(workers())
