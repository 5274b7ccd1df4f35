"""What bounds a send worker's window: readings of the worker, the sandbox and the machine taken
before and after a timed run, for ``bench/delivery.py``.

Window efficiency is tokens/s ÷ (N ÷ latency). By Little's law it splits exactly into two factors
(over the timed part, ``on_wire`` = sum of the sends' round trips ÷ wall time = the average number
of sends on the wire):

    efficiency = (on_wire ÷ N) x (latency ÷ mean round trip)
                  window fill      round-trip stretch

- a fill well below 1 means the pipe does not keep N sends going (it waits to take, to commit,
  for the rate budget, for stream room...): that is a stall, whatever the CPU;
- a full window with a stretched round trip means every send takes longer than the gateway's
  latency: the answer is late (the sandbox had no core) or read late (the worker's loop was busy).

Which CPU is the bound, from /proc: the worker's busiest thread (the runtime's event loop) is
"demanding" for the fraction of the wall time it ran OR waited runnable for a core
(``/proc/<pid>/task/<tid>/schedstat``): near 1, the loop always had work, so more in flight cannot
go faster (CPU-bound, its own CPU or a share of the machine's); the machine's busy fraction (all
cores, ``/proc/stat``) says whether the cores were all taken.

The worker's round trips come from its own ``pushflow_send_latency_seconds`` histogram, scraped
from its ``/metrics`` endpoint (``PUSHFLOW_METRICS_PORT``).
"""

from __future__ import annotations

import os
import re
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CPU_BOUND_DEMAND = 0.9  # the loop thread ran or waited for a core at least this much of the time
FULL = 0.8  # window fill from which the window counts as kept full
BUSY_MACHINE = 0.9  # all cores' busy fraction from which the machine counts as saturated
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (and its reaped children) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICK


def thread_schedstats(pid: int) -> dict[int, tuple[int, int]]:
    """Per thread: (ns on a CPU, ns runnable waiting for one)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            run, wait, _slices = (int(x) for x in (task / "schedstat").read_text().split())
        except (OSError, ValueError):
            continue  # a thread that ended meanwhile
        out[int(task.name)] = (run, wait)
    return out


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def scrape_round_trips(port: int, gateway: str) -> tuple[float, int]:
    """(sum of seconds, count) of the worker's send round trips so far."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    found = {}
    for kind in ("sum", "count"):
        m = re.search(rf'^pushflow_send_latency_seconds_{kind}\{{gateway="{gateway}"\}} (\S+)$',
                      text, re.M)
        found[kind] = float(m.group(1)) if m else 0.0
    return found["sum"], int(found["count"])


@dataclass(frozen=True)
class Reading:
    at: float
    worker_cpu: float
    threads: dict[int, tuple[int, int]]
    sandbox_cpu: float
    machine: tuple[int, int]
    rtt_sum: float
    rtt_count: int


def read(worker_pid: int, sandbox_pid: int, metrics_port: int, gateway: str,
         *, first: bool) -> Reading:
    """``first``: the reading before the run, timed after the scrape (the run starts then);
    the one after it is timed before the scrape, which the run must not be charged for."""
    at = time.perf_counter()
    rtt_sum, rtt_count = scrape_round_trips(metrics_port, gateway)
    if first:
        at = time.perf_counter()
    return Reading(at, cpu_seconds(worker_pid), thread_schedstats(worker_pid),
                   cpu_seconds(sandbox_pid), machine_jiffies(), rtt_sum, rtt_count)


@dataclass(frozen=True)
class Window:
    tokens_per_s: float
    bound: float  # N ÷ latency
    efficiency: float
    fill: float  # average sends on the wire ÷ N
    mean_rtt_ms: float
    stretch: float  # latency ÷ mean round trip
    worker_cpu_ms: float  # per token
    worker_cores: float  # worker CPU ÷ wall time
    loop_demand: float  # busiest thread: (on CPU + runnable) ÷ wall time
    sandbox_cpu_ms: float  # per token
    machine_busy: float  # of all cores

    @property
    def cpu_bound(self) -> bool:
        return self.loop_demand >= CPU_BOUND_DEMAND

    @property
    def machine_limit(self) -> float:
        """Tokens/s this machine's cores allow the worker and the sandbox together at their CPU
        per token (both on this machine), were nothing else running: above it, no window helps."""
        return (os.cpu_count() or 1) * 1000 / max(self.worker_cpu_ms + self.sandbox_cpu_ms, 1e-6)

    @property
    def loop_limit(self) -> float:
        """Tokens/s the worker's one event loop allows at its CPU per token: a loop runs on one
        core at a time, so this bounds one worker process whatever the machine has."""
        return 1000 / max(self.worker_cpu_ms, 1e-6)

    def verdict(self) -> str:
        if self.cpu_bound:
            return "CPU-bound: the worker's loop always had work, running or waiting for a core"
        if self.fill >= FULL:
            return ("window full, round trips longer than the latency: " +
                    ("every core busy, CPU-bound" if self.machine_busy >= BUSY_MACHINE
                     else "the sandbox answers late"))
        return "window part empty: the pipe stalls"

    def describe(self) -> str:
        verdict = self.verdict()
        return (f"bound N/latency {self.bound:,.0f}/s, efficiency {self.efficiency:.2f} = fill "
                f"{self.fill:.2f} x stretch {self.stretch:.2f} (mean round trip "
                f"{self.mean_rtt_ms:.0f} ms); worker {self.worker_cpu_ms:.2f} ms CPU/token = "
                f"{self.worker_cores:.2f} cores, loop demand {self.loop_demand:.2f}; sandbox "
                f"{self.sandbox_cpu_ms:.2f} ms CPU/token; machine {self.machine_busy:.0%} busy; "
                f"{os.cpu_count()} cores allow worker + sandbox {self.machine_limit:,.0f}/s = "
                f"efficiency {self.machine_limit / self.bound if self.bound else 0:.2f} at most; "
                f"one loop allows {self.loop_limit:,.0f}/s = efficiency "
                f"{self.loop_limit / self.bound if self.bound else 0:.2f} at most ({verdict})")


def window(before: Reading, after: Reading, tokens: int, in_flight: int,
           latency_ms: float) -> Window:
    elapsed = after.at - before.at
    rate = tokens / elapsed
    bound = in_flight / (latency_ms / 1000) if latency_ms > 0 else 0.0
    rtt_sum = after.rtt_sum - before.rtt_sum
    rtt_n = max(after.rtt_count - before.rtt_count, 1)
    mean_rtt = rtt_sum / rtt_n
    demand = max(((run - before.threads.get(tid, (0, 0))[0])
                  + (wait - before.threads.get(tid, (0, 0))[1])
                  for tid, (run, wait) in after.threads.items()), default=0) / 1e9 / elapsed
    busy = after.machine[0] - before.machine[0]
    total = max(after.machine[1] - before.machine[1], 1)
    cpu = after.worker_cpu - before.worker_cpu
    return Window(
        tokens_per_s=rate, bound=bound, efficiency=rate / bound if bound else 0.0,
        fill=rtt_sum / elapsed / in_flight, mean_rtt_ms=mean_rtt * 1000,
        stretch=latency_ms / 1000 / mean_rtt if mean_rtt else 0.0,
        worker_cpu_ms=cpu / tokens * 1000, worker_cores=cpu / elapsed, loop_demand=demand,
        sandbox_cpu_ms=(after.sandbox_cpu - before.sandbox_cpu) / tokens * 1000,
        machine_busy=busy / total)
