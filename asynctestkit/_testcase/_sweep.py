"""Sweeping many seeds: split over machines (shards) and over processes (jobs).

``ASYNCTESTKIT_EXPLORE_SHARD=i/n`` keeps seeds i, i+n, i+2n, ... of an
exploration (1 <= i <= n): n machines of a CI matrix together run every
seed once. ``ASYNCTESTKIT_EXPLORE_JOBS=N`` (or the ``explore_jobs``
option) runs one test's seeds in N forked processes, each taking every
N-th seed in ascending order and stopping at its first failure: the lowest
of their first failures is the lowest failing seed, whatever N, so a
parallel sweep reports the same seed as a sequential one.

Processes are forked (POSIX), so the test needs no importable name (a
class made inside a function sweeps too); where forking is unsafe (another
thread runs: forking would copy its locks held) or unavailable, the seeds
run here, one after the other, with the same result.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ("JOBS_ENV", "SHARD_ENV", "jobs", "shard", "sweep")

JOBS_ENV = "ASYNCTESTKIT_EXPLORE_JOBS"
SHARD_ENV = "ASYNCTESTKIT_EXPLORE_SHARD"


def shard() -> tuple[int, int]:
    """Return (first seed, step) for ``ASYNCTESTKIT_EXPLORE_SHARD`` (unset: (1, 1)).

    Raises:
        ValueError: not ``i/n`` with 1 <= i <= n.
    """
    text = os.environ.get(SHARD_ENV, "").strip()
    if not text:
        return 1, 1
    index, _, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i = n = 0
    if not 1 <= i <= n:
        raise ValueError(
            f"{SHARD_ENV} needs i/n, this machine's share of the seeds with 1 <= i <= n "
            f"(e.g. 2/4: seeds 2, 6, 10, ...); got {text!r}"
        )
    return i, n


def jobs(option: Callable[[str], Any]) -> int:
    """The processes to sweep in: ``ASYNCTESTKIT_EXPLORE_JOBS``, else the ``explore_jobs`` option.

    Raises:
        ValueError: the variable is not a positive int.
    """
    text = os.environ.get(JOBS_ENV, "").strip()
    if not text:
        return int(option("explore_jobs"))
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{JOBS_ENV} needs a positive int, the processes to run seeds in; got {text!r}")
    return value


def sweep(
    run_seed: Callable[[int], tuple[bool, int]],
    seeds: Sequence[int],
    jobs: int,
    stop: Callable[[], bool],
) -> tuple[int | None, int, int]:
    """Run ``seeds`` (in ``jobs`` processes); return (lowest failing seed, distinct schedules, seeds run)."""
    if jobs > 1 and len(seeds) > 1 and _can_fork():
        return _parallel(run_seed, seeds, jobs)
    failing, prints, ran = _serial(run_seed, seeds, stop)
    return failing, len(prints), ran


def _serial(
    run_seed: Callable[[int], tuple[bool, int]], seeds: Sequence[int], stop: Callable[[], bool]
) -> tuple[int | None, set[int], int]:
    prints: set[int] = set()
    ran = 0
    for seed in seeds:
        broke, fingerprint = run_seed(seed)
        ran += 1
        prints.add(fingerprint)
        if broke:
            return seed, prints, ran
        if stop():
            break
    return None, prints, ran


def _can_fork() -> bool:
    if not hasattr(os, "fork"):  # pragma: no cover - Windows
        return False
    try:
        # Linux: every thread of this process, Python's or not.
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # pragma: no cover - no /proc
        import threading

        return threading.active_count() == 1


def _parallel(
    run_seed: Callable[[int], tuple[bool, int]], seeds: Sequence[int], jobs: int
) -> tuple[int | None, int, int]:
    children: list[tuple[int, int]] = []
    for part in range(min(jobs, len(seeds))):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's coverage is not collected
            status = 1
            try:
                os.close(read)
                failing, prints, ran = _serial(run_seed, seeds[part::jobs], lambda: False)
                data = json.dumps([failing, sorted(prints), ran]).encode()
                with os.fdopen(write, "wb") as out:
                    out.write(data)
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        children.append((pid, read))
    failures: list[int] = []
    seen: set[int] = set()
    ran = 0
    problems: list[str] = []
    for pid, read in children:
        with os.fdopen(read, "rb") as source:
            data = source.read()
        _, status = os.waitpid(pid, 0)
        if status or not data:
            problems.append(f"process {pid} ended with status {status}")
            continue
        failing, child_prints, child_ran = json.loads(data)
        if failing is not None:
            failures.append(failing)
        seen.update(child_prints)
        ran += child_ran
    if problems:
        raise RuntimeError(
            f"a process sweeping seeds ended without reporting ({'; '.join(problems)}); "
            f"run with {JOBS_ENV}=1 to sweep in this process"
        )
    return (min(failures) if failures else None), len(seen), ran
