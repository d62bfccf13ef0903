"""Where the cores went during a timed run: the server's processes, the database server, the
load generator and everything else, from /proc (Linux) and the bench's own child rusage.

bench_gateway.py prints this beside each scenario so that a scaling figure can be read against
what the machine had left: on 2 cores, a second server process can only add what one process,
the database server and wrk did not already use.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

HERTZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
DATABASE_PROCESSES = ("postgres",)  # comm names of a local database server


@dataclass(frozen=True, slots=True)
class CpuUse:
    """Cores busy on average over a run (1.0 = one core the whole time)."""

    seconds: float
    server: float  # the server's process tree (all its workers)
    database: float  # local database server processes (PostgreSQL's backends)
    load: float  # the load generator (wrk, a child of this bench, or the Python driver)
    machine: float  # every core's busy time, whoever used it
    cores: int
    # the server's processes that were busy (≥ 0.01 core), busiest first, with their names:
    # shows an uneven split of the connections between workers, and the log writer's share
    processes: tuple[tuple[str, float], ...] = ()

    @property
    def other(self) -> float:
        return max(0.0, self.machine - self.server - self.database - self.load)

    @property
    def idle(self) -> float:
        return max(0.0, self.cores - self.machine)

    def server_us_per_request(self, requests: int) -> float:
        return self.server * self.seconds / requests * 1e6 if requests else 0.0

    def line(self) -> str:
        split = ""
        if len(self.processes) > 1:
            split = " (" + " + ".join(f"{name} {cores:.2f}" for name, cores in self.processes) + ")"
        return (f"cores busy {self.machine:.2f} of {self.cores}: server {self.server:.2f}{split}, "
                f"database {self.database:.2f}, wrk {self.load:.2f}, other {self.other:.2f}")


@dataclass(frozen=True, slots=True)
class _Mark:
    at: float
    tree: dict[int, int]  # ticks per pid of the server tree
    names: dict[int, str]  # what each process of the tree is (`worker`, `log writer`)
    database: dict[int, int]
    driver: float  # seconds of this bench and its finished children (wrk)
    busy: int  # machine busy ticks
    available: bool


def proc_ticks() -> tuple[dict[int, tuple[int, int, str]], bool]:
    """pid → (parent, utime + stime ticks, comm)."""
    found: dict[int, tuple[int, int, str]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found, False
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # exited meanwhile
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        found[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]), comm)
    return found, True


def machine_busy() -> int:
    """Busy ticks of the whole machine so far (every core), from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return 0
    ticks = [int(v) for v in first[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return sum(ticks[:8]) - idle  # guest time is already counted in user


def _driver_seconds() -> float:
    """This bench and its finished children: wrk once it has exited, or the Python driver."""
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_CHILDREN),
                                                  resource.getrusage(resource.RUSAGE_SELF)))


def mark(server_pid: int) -> _Mark:
    processes, available = proc_ticks()
    tree, frontier = {server_pid}, [server_pid]
    while frontier:
        pid = frontier.pop()
        children = [p for p, (parent, _, _) in processes.items()
                    if parent == pid and p not in tree]
        tree.update(children)
        frontier.extend(children)
    return _Mark(
        at=time.monotonic(),
        tree={p: processes[p][1] for p in tree if p in processes},
        names={p: _role(processes[p][2]) for p in tree if p in processes},
        database={p: t for p, (_, t, comm) in processes.items()
                  if comm.split(":")[0] in DATABASE_PROCESSES},
        driver=_driver_seconds(), busy=machine_busy(), available=available)


def _role(comm: str) -> str:
    """`log writer` for the host's log writer process (`gateway/host_writer.py` names it),
    `worker` otherwise: a server process, or the supervisor of several."""
    return "log writer" if comm == "gw-log-writer" else "worker"


def _grown(before: dict[int, int], after: dict[int, int]) -> int:
    """Ticks used between two marks by the processes of `after` (new ones from zero)."""
    return sum(t - before.get(p, 0) for p, t in after.items() if t >= before.get(p, 0))


def between(first: _Mark, second: _Mark) -> CpuUse | None:
    """The cores used between two marks, or None where /proc is not there to tell."""
    seconds = second.at - first.at
    if not (first.available and second.available) or seconds <= 0:
        return None
    per_core_second = HERTZ * seconds
    return CpuUse(
        seconds=seconds,
        server=_grown(first.tree, second.tree) / per_core_second,
        database=_grown(first.database, second.database) / per_core_second,
        load=(second.driver - first.driver) / seconds,
        machine=(second.busy - first.busy) / per_core_second,
        cores=os.cpu_count() or 1,
        processes=tuple(sorted(
            ((second.names.get(p, "worker"), (t - first.tree.get(p, 0)) / per_core_second)
             for p, t in second.tree.items()
             if t - first.tree.get(p, 0) >= 0.01 * per_core_second),
            key=lambda item: -item[1])))
