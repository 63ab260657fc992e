"""Explain a seed's failure: the fewest departures from the default order that still fail it.

A failing seed made many choices (`_virtual._choices`); most do not matter.
`explain` re-runs the test with departures reverted (Zeller's delta
debugging, ``ddmin``) down to a set where reverting any one more makes the
test pass, then runs that set once more, recording, and prints each kept
departure as one line in the user's terms: what ran first against the
default order, at which virtual time, and the source lines that armed the
timers or where the tasks waited. A short timeline of the steps where that
run leaves the default order's closes the report.

Each re-run is a whole test run under the same seed, so the cost is a few
dozen runs of one test, paid only when a seed fails.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

from .._virtual._choices import Choices

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .._virtual._choices import Departure

__unittest = True

__all__ = ("ddmin", "explain")

# Re-runs of the test spent on minimizing, at most; past it the set found so
# far is reported (it still fails, it may not be the smallest).
_MAX_RUNS: Final = 200
# Steps shown in the timeline.
_TIMELINE: Final = 10



def ddmin(
    items: Sequence[int], fails: Callable[[frozenset[int]], bool], budget: int = _MAX_RUNS
) -> list[int]:
    """Return a subset of ``items`` that still ``fails``, where removing any one item passes.

    Zeller and Hildebrandt's ddmin: try halves, then complements, at finer
    and finer grain. ``fails(items)`` is assumed true and ``fails(())`` false.
    After ``budget`` calls the subset found so far is returned.
    """
    current = list(items)
    runs = 0

    def test(subset: list[int]) -> bool:
        nonlocal runs
        runs += 1
        return fails(frozenset(subset))

    n = 2
    while len(current) >= 2 and runs < budget:
        size = math.ceil(len(current) / n)
        chunks = [current[i : i + size] for i in range(0, len(current), size)]
        for chunk in chunks:
            if test(chunk):
                current, n = chunk, 2
                break
        else:
            for chunk in chunks if n > 2 else ():
                rest = [x for x in current if x not in chunk]
                if test(rest):
                    current, n = rest, max(n - 1, 2)
                    break
            else:
                if n >= len(current):
                    break
                n = min(len(current), 2 * n)
    # 1-minimal: no single item can go (ddmin ensures it unless cut short).
    for item in list(current):
        if len(current) > 1 and runs < budget:
            rest = [x for x in current if x != item]
            if test(rest):
                current = rest
    return current


def explain(attempt: Callable[[Choices], bool], seed: int) -> tuple[list[str], list[int] | None, bool]:
    """Minimize seed ``seed``'s departures and describe them.

    ``attempt(choices)`` runs the test once under the seed with ``choices``
    and says whether it failed.

    Returns:
        The report's lines; the kept choice points when they differ from
        the seed's own (for a replay line), else None; whether a late timer
        is among them (the failure may compare virtual times).
    """
    full = Choices(record=True)
    if not attempt(full):
        return (["(This seed passed when run again: the test is not deterministic; "
                 "ASYNCTESTKIT_CHECK_DETERMINISM=1 shows where.)"], None, False)
    every = [d.index for d in full.made]
    kept = ddmin(every, lambda keep: attempt(Choices(keep))) if len(every) > 1 else every
    final = Choices(kept, record=True)
    attempt(final)
    default = Choices((), record=True)
    attempt(default)
    lines = [f"Why: the fewest departures from the default order that still fail it ({len(kept)} of "
             f"the seed's {len(every)}; reverting any one of them passes):"]
    lines += [f"  - {_departure(d, final)}" for d in final.made]
    lines += _timeline(final, default)
    late = any(d.kind == "late" for d in final.made)
    return lines, (kept if len(kept) < len(every) else None), late


def _t(ns: int) -> str:
    return f"t={ns / 1e9!r}"


def _verb(text: str) -> str:
    return "ended" if text.startswith("the sleep") else "fired"


def _fired_at(choices: Choices, handle: Any) -> int | None:
    for i, step in enumerate(choices.steps):
        if step[1] is handle:
            return i
    return None


def _departure(d: Departure, run: Choices) -> str:
    if d.kind == "eager":
        return ("the loop started its tasks eagerly (as under asyncio.eager_task_factory): each new "
                "task ran up to its first await inside create_task(); the default order starts it "
                "at the loop's next iteration")
    if d.kind == "tie":
        first, usual = (run.describe(h) for h in d.handles)
        return (f"at {_t(d.ns)} {first} {_verb(first)} before {usual} {_verb(usual)}; "
                "the default order runs them the other way")
    if d.kind == "outside":
        outside = run.describe(d.handles[0]) if d.handles else "real IO"
        at = next((i for i in range(d.step, len(run.steps)) if id(run.steps[i][1]) in run.sites), None)
        timer = run.steps[at][2] if at is not None else "the timers due"
        return (f"at {_t(d.ns)} {timer} {_verb(timer)} before {outside} ran; the default order "
                "runs the outside event first")
    # A late timer: what ran in its place, between when it was due and when it fired.
    timer = d.handles[0]
    text = run.describe(timer)
    nominal = round(run.sites[id(timer)][2] * 1e9) if id(timer) in run.sites else d.ns
    late = f"made {d.amount:.3g} s late"
    fired = _fired_at(run, timer)
    if fired is None:  # the test ended first
        fired = len(run.steps)
    between = [s for s in run.steps[:fired] if s[0] >= nominal]
    timers = [s for s in between if id(s[1]) in run.sites]
    if timers or between:
        other = (timers or between)[0][2]
        return (f"at {_t(nominal)} {other} {_verb(other) if timers else 'ran'} before {text} "
                f"{_verb(text)} ({late}); the default order runs them the other way")
    if fired == len(run.steps):
        return (f"{text} was {late} (due at {_t(nominal)}); the test ended before it; the default "
                "order fires it on time")
    return (f"{text} {_verb(text)} at {_t(run.steps[fired][0])} ({late}, due at {_t(nominal)}), and what "
            "it woke ran that much later; the default order fires it on time")


def _timeline(run: Choices, default: Choices) -> list[str]:
    mine = [s for s in run.steps if not s[2].endswith("_run_until_complete_cb()")]
    theirs = [s for s in default.steps if not s[2].endswith("_run_until_complete_cb()")]
    same = 0
    while same < min(len(mine), len(theirs)) and mine[same][::2] == theirs[same][::2]:
        same += 1
    if same == len(mine):
        return []
    shown = mine[same : same + _TIMELINE]
    lines = [f"Timeline, from the first step that differs from the default order's run (step {same + 1}):"]
    lines += [f"  {_t(ns):<16} {text}" for ns, _, text in shown]
    if same + _TIMELINE < len(mine):
        lines.append(f"  ... {len(mine) - same - _TIMELINE} more steps")
    if same < len(theirs):
        lines.append(f"  (the default order ran instead: {_t(theirs[same][0])} {theirs[same][2]})")
    return lines
