"""``benchmarks.proc_cpu`` counts a process tree's CPU: live descendants and reaped ones (a recycled worker).

Real processes: a parent that starts a child which burns CPU, and a second
which burns CPU and has exited and been reaped before the reading. No time is
asserted beyond what the work itself must have spent: both shares are found.
"""

from __future__ import annotations

import subprocess
import sys

from benchmarks.proc_cpu import tree_cpu_seconds

# Burn CPU until this process has spent ``seconds`` of it (process time, not wall time).
BURN = "import sys, time\nwhile time.process_time() < float(sys.argv[1]): pass\n"
# Then say so, and wait on stdin.
BURN_AND_WAIT = BURN + "sys.stdout.write('x'); sys.stdout.flush(); sys.stdin.read()\n"
# The parent: a reaped child that burned 0.3 s, a live one that burns 0.3 s then waits on
# stdin, a line once both are done, then it waits on stdin too.
PARENT = f"""
import subprocess, sys
burn = [sys.executable, "-c", {BURN!r}, "0.3"]
subprocess.run(burn, check=True)
live = subprocess.Popen(
    [sys.executable, "-c", {BURN_AND_WAIT!r}, "0.3"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
)
live.stdout.read(1)
print(live.pid, flush=True)
sys.stdin.read()
live.stdin.close()
live.wait()
"""


def test_a_tree_counts_its_live_and_its_reaped_children() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        live_child = int(parent.stdout.readline())

        whole, child_alone = tree_cpu_seconds(parent.pid), tree_cpu_seconds(live_child)
    finally:
        assert parent.stdin is not None
        parent.stdin.close()
        parent.wait(timeout=30)

    assert child_alone >= 0.29
    assert whole - child_alone >= 0.29  # the reaped child's 0.3 s, in the parent's cutime
    assert tree_cpu_seconds(parent.pid) == 0.0  # gone
