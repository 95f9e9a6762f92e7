"""The watch's rounds, counted on the simulator: never more than one probe of a port a second (the check as
users run it, at the smallest --interval), and a thousand rounds with flat memory and no descriptor growth
(in this process, the 1 s floor lowered: only a test can, by handing the ``Watcher`` its own floor)."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import threading
import time
import tracemalloc
from collections.abc import Sequence

import pytest
from conftest import script
from support import check_args

from check_digitalsentry.cli.main import _option_site
from check_digitalsentry.cli.options import Options, parse
from check_digitalsentry.cli.watch import Watcher
from check_digitalsentry.engine import plan_sites
from check_digitalsentry.plugins import get_hooks
from check_digitalsentry.simulator import SimSite, Simulator
from check_digitalsentry.steady import Event, Watch

#: Seconds the simulator may record an arrival late (its event loop shares this process): the probes
#: themselves start at least 1 s apart, but an accept recorded 20 ms late shortens the gap it measures.
RECORDING_SLACK = 0.1


def test_never_more_than_one_probe_of_a_port_a_second() -> None:
    sim = Simulator([SimSite(audio_clients=0)], record=True).start()
    try:
        proc = subprocess.Popen([script("check_digitalsentry"), *check_args(sim), "--watch", "--interval", "1"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        time.sleep(7)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        sim.close()
    assert proc.returncode == 0, out + err
    rounds = int(out.split(" after ", 1)[1].split(" round", 1)[0])
    assert rounds >= 3, out
    assert sim.arrivals is not None
    by_port: dict[int, list[float]] = {}
    for at, _, port in sim.arrivals:
        by_port.setdefault(port, []).append(at)
    site = sim.sites[0]
    probed = {site.ports[role] for role in ("sql-browser", "video", "diagnostics", "web", "api-system",
                                            "api-playback", "api-camera")} | {site.sql_port}
    assert set(by_port) == probed  # the SQL port too: the Browser is asked every round, and names it
    for port, times in by_port.items():
        assert rounds <= len(times) <= rounds + 1, (port, len(times), rounds)  # once a round (+ one under way)
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert min(gaps) >= 1.0 - RECORDING_SLACK, (port, gaps)


class Counting:
    """A view for ``Watcher`` that measures this process at round ``first`` and ends the watch at ``last``."""

    def __init__(self, first: int, last: int) -> None:
        self.first, self.last = first, last
        self.samples: list[tuple[int, int, int, int]] = []  # (round, traced bytes, descriptors, threads)
        self.events = 0

    def show(self, watch: Watch, events: Sequence[Event], now: float, header: Sequence[str]) -> bool:
        self.events += len(events)
        if watch.rounds in (self.first, self.last):
            gc.collect()  # what the rounds keep, not the cycles the collector has not come round to yet
            self.samples.append((watch.rounds, tracemalloc.get_traced_memory()[0], len(os.listdir("/proc/self/fd")),
                                 threading.active_count()))
        return watch.rounds < self.last

    def tick(self, watch: Watch, now: float, header: Sequence[str]) -> bool:
        return True

    def close(self) -> None:
        pass


@pytest.mark.slow
def test_a_thousand_rounds_with_flat_memory_and_no_descriptor_growth() -> None:
    # The simulated site in a process of its own: every descriptor and byte counted here is the watch's.
    sim = subprocess.Popen([script("dsports-simulator"), "--audio-clients", "0", "--address", "127.0.0.21"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert sim.stdout is not None
        command = sim.stdout.readline().split(": ", 1)[1].split()  # the check command it prints
        hooks = get_hooks()
        site = _option_site(Options(parse(command[1:])), [role.name for role in hooks.roles()])
        plans = plan_sites([site], hooks)
        view = Counting(first=200, last=1000)
        watcher = Watcher(plans, hooks=hooks, view=view, interval=0.0, timeout=5.0, duration=3600.0, floor=0.0)
        tracemalloc.start()
        try:
            started = time.monotonic()
            ended = watcher.run()
            seconds = time.monotonic() - started
        finally:
            tracemalloc.stop()
    finally:
        sim.terminate()
        sim.communicate(timeout=30)
    assert ended == "stdout is gone" and watcher.watch.rounds == 1000  # the view ended it at round 1,000
    assert watcher.watch.state is not None and int(watcher.watch.state) == 0 and view.events == 8  # firsts only
    (_, memory_before, fds_before, threads_before), (_, memory_after, fds_after, threads_after) = view.samples
    print(f"1,000 rounds in {seconds:.1f} s; traced memory {memory_before} -> {memory_after} bytes; "
          f"descriptors {fds_before} -> {fds_after}; threads {threads_before} -> {threads_after}")
    assert fds_after <= fds_before and threads_after <= threads_before
    assert memory_after - memory_before < 64 * 1024, (memory_before, memory_after)  # < 80 bytes a round
