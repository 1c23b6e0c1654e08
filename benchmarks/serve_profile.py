"""Where a ``feast serve`` request's CPU goes, from py-spy's samples of the server: ms per request by place.

py-spy (``record --gil --threads --format raw``) samples the thread that holds
the GIL, which in a Python server is where its CPU goes; its shares of the
samples then split the CPU that ``/proc`` measured per request in the same run
(so time outside the GIL, in the kernel's sockets, is spread over the places in
proportion). A sample is placed by where it is:

* **the read**: Feast's call to the online store (``_read_features_per_fv``:
  the ceiling takes Feast's generic one, which fills the response itself; this
  store has its own) and the store's own threads (``dynamodb-*``);
* **the rest of feast serve**: HTTP, the request's parsing and planning, the
  response's conversion to JSON;

and within each by the module of the innermost frame. The difference to the
ceiling's column, per place, is what a store costs beyond Feast's own work.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

READ, REST = "read", "rest of feast serve"
READ_MARKERS = ("_read_features_per_fv", "/feast_chalk_dynamo/", "/benchmarks/ceiling_store.py")
STORE_THREAD_PREFIX = "dynamodb-"
# The innermost frame's file, first match wins; what matches none is "other".
MODULES = (
    ("the store's code", ("/feast_chalk_dynamo/", "/benchmarks/ceiling_store.py")),
    ("HTTP client (urllib3, http.client, botocore)",
     ("/urllib3/", "/http/client.py", "/botocore/", "/socket.py", "/email/")),
    ("Feast", ("/feast/",)),
    ("protobuf", ("/google/protobuf/",)),
    ("json", ("/json/",)),
    ("HTTP server (uvicorn, starlette, fastapi, pydantic)",
     ("/uvicorn/", "/starlette/", "/fastapi/", "/pydantic", "/anyio/", "/h11/")),
    ("event loops and threads", ("/asyncio/", "/threading.py", "/concurrent/", "/selectors.py", "/queue.py")),
)  # fmt: skip
OTHER = "other"
RATE = 100  # samples a second


def record(py_spy: str, pid: int, seconds: int, output: Path) -> None:
    """Sample ``pid`` and its subprocesses (gunicorn's workers) for ``seconds``, into ``output`` (raw)."""
    command = [
        py_spy, "record", "--pid", str(pid), "--subprocesses", "--gil", "--threads", "--full-filenames",
        "--format", "raw", "--rate", str(RATE), "--duration", str(seconds), "--output", str(output),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if result.returncode != 0 or not output.exists():
        raise RuntimeError(f"py-spy failed ({result.returncode}): {result.stderr[-2000:]}")


def samples(raw: str) -> list[tuple[list[str], int]]:
    """py-spy's raw (collapsed) lines: the frames from the outermost, and how many samples had them."""
    found = []
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            found.append((stack.split(";"), int(count)))
    return found


def place(frames: Sequence[str]) -> tuple[str, str]:
    """(``READ`` or ``REST``, module of the innermost frame) of one sample."""
    threads = [frame.split(": ", 1)[-1] for frame in frames if frame.startswith("thread (")]
    in_read = any(name.startswith(STORE_THREAD_PREFIX) for name in threads) or any(
        marker in frame for frame in frames for marker in READ_MARKERS
    )
    leaf = frames[-1]
    module = next((name for name, paths in MODULES if any(path in leaf for path in paths)), OTHER)
    return (READ if in_read else REST), module


def breakdown(raw: str, cpu_ms_per_request: float) -> Counter[tuple[str, str]]:
    """CPU-ms per request by place: the samples' shares of ``cpu_ms_per_request``."""
    counts: Counter[tuple[str, str]] = Counter()
    for frames, count in samples(raw):
        counts[place(frames)] += count
    total = sum(counts.values())
    return (
        Counter({key: cpu_ms_per_request * count / total for key, count in counts.items()})
        if total
        else counts
    )


def hottest(raw: str, cpu_ms_per_request: float, top: int) -> list[tuple[str, float]]:
    """The innermost frames (function, file:line) that took the most CPU-ms per request."""
    counts: Counter[str] = Counter()
    for frames, count in samples(raw):
        counts[frames[-1]] += count
    total = sum(counts.values()) or 1
    return [(frame, cpu_ms_per_request * count / total) for frame, count in counts.most_common(top)]
