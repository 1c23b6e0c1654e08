"""CPU seconds a process and all its descendants have spent, from ``/proc`` (Linux).

A server's cost per request is its CPU over the requests it answered: on a
shared machine requests per second move with the neighbours' load, CPU per
request much less. ``feast serve`` is a gunicorn master and its workers, which
gunicorn may replace, so a tree is counted, not a pid: every live process's
utime + stime, plus cutime + cstime, where the kernel adds the time of each
child once it has been reaped (a recycled worker's time lands in its master's).
"""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def tree_cpu_seconds(root: int) -> float:
    """CPU of ``root`` and its descendants, live or reaped; 0.0 if ``root`` is gone."""
    stats = _all_stats()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    ticks = 0
    pending = [root] if root in stats else []
    while pending:
        pid = pending.pop()
        ticks += stats[pid][1]
        pending.extend(children.get(pid, ()))
    return ticks / CLOCK_TICKS


def _all_stats() -> dict[int, tuple[int, int]]:
    """Every process's parent and CPU ticks (its own and its reaped children's), read once each."""
    stats: dict[int, tuple[int, int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # exited since the listing
            continue
        # The command name, in parentheses, may hold spaces and parentheses: split after its last ")".
        fields = text[text.rindex(")") + 2 :].split()
        # Fields from the state on (proc(5) numbers 3...): ppid is 4; utime, stime, cutime, cstime 14-17.
        stats[int(entry.name)] = (int(fields[1]), sum(int(value) for value in fields[11:15]))
    return stats
