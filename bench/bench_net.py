"""Measure request/response round trips on the virtual network against real localhost sockets.

Run from the repository root::

    python bench/bench_net.py [--trips N] [--repeats R] [--memory M]

In one process, an asyncio-streams echo server and a client exchange N
request/response round trips (a 16-byte request, its echo back, one
``drain()`` and one ``readexactly()`` each way):

* over real localhost TCP sockets, on the platform's default loop;
* over `VirtualNetwork` on a virtual loop (``network = "virtual"``).

Each figure is the best of R runs, as round trips per real second; the
ratio is virtual / real (target: at least 1.0, no slower than real
sockets). Then M round trips (100,000 by default) run on one virtual
connection while tracemalloc samples the traced memory every tenth of the
way: memory must stay flat (the last sample within 64 KiB of the first).
The script prints the figures and exits with status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asynctestkit import VirtualNetwork, virtual_event_loop

RATIO_TARGET = 1.0
MEMORY_SLACK = 64 * 1024
REQUEST = b"0123456789abcdef"


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.readexactly(len(REQUEST))
            writer.write(data)
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass
    writer.close()
    await writer.wait_closed()


async def _trips(n: int, samples: list[int] | None = None) -> float:
    """Run ``n`` round trips against a fresh echo server; return the real seconds they took."""
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    every = max(1, n // 10)
    start = time.perf_counter()
    for i in range(n):
        writer.write(REQUEST)
        await writer.drain()
        await reader.readexactly(len(REQUEST))
        if samples is not None and i % every == 0:
            samples.append(tracemalloc.get_traced_memory()[0])
    elapsed = time.perf_counter() - start
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    await asyncio.sleep(0.01)
    return elapsed


def run_real(n: int) -> float:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_trips(n))
    finally:
        loop.close()


def run_virtual(n: int, samples: list[int] | None = None) -> float:
    loop = virtual_event_loop()
    network = VirtualNetwork()
    network.attach(loop)
    try:
        return loop.run_until_complete(_trips(n, samples))
    finally:
        loop.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trips", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory", type=int, default=100_000)
    args = parser.parse_args()
    real = virtual = float("inf")
    for _ in range(args.repeats):
        gc.collect()
        real = min(real, run_real(args.trips))
        gc.collect()
        virtual = min(virtual, run_virtual(args.trips))
    real_rate = args.trips / real
    virtual_rate = args.trips / virtual
    ratio = virtual_rate / real_rate
    print(f"Python {sys.version.split()[0]}: {args.trips:,} round trips, best of {args.repeats}")
    print(f"  real localhost sockets: {real_rate:12,.0f} round trips/s")
    print(
        f"  VirtualNetwork:         {virtual_rate:12,.0f} round trips/s  "
        f"(ratio {ratio:.2f}, target >= {RATIO_TARGET})"
    )
    ok = ratio >= RATIO_TARGET
    samples: list[int] = []
    gc.collect()
    tracemalloc.start()
    try:
        run_virtual(args.memory, samples)
    finally:
        tracemalloc.stop()
    growth = samples[-1] - samples[1] if len(samples) > 2 else 0
    print(
        f"  memory over {args.memory:,} virtual round trips: "
        + ", ".join(f"{s / 1024:.0f}" for s in samples)
        + f" KiB (growth {growth / 1024:+.1f} KiB after the first tenth, limit {MEMORY_SLACK // 1024} KiB)"
    )
    ok = ok and growth <= MEMORY_SLACK
    print("OK" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
