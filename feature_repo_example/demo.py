"""End-to-end demo: Feast CLI + the DynamoDB online store against a local endpoint.

Run with ``python -m feature_repo_example.demo`` (``make demo``). It exercises the
same paths a user would: the real ``feast`` CLI for apply/materialize, the
Python SDK's ``push`` of raw transactions into the windowed view, the SDK and
``feast serve`` over HTTP for reads, all against moto's DynamoDB server, and
then checks every served value against the parquet source data (the windowed
outputs against pandas over the transactions, by the same bucket rule) so a
silent encoding bug fails loudly instead of printing plausible numbers.

Every process it starts is bound to 127.0.0.1 and stopped before it exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from feast import FeatureStore, Field
from feast.types import Json, UnixTimestamp

from feature_repo_example import checks, data_gen, transactions
from feature_repo_example.config import REPO_DIR, variables
from feature_repo_example.features import (
    DEFAULT_DATA_DIR,
    JOIN_KEY,
    TIMESTAMP_FIELD,
    RepoObjects,
    build_objects,
)

REPO_ROOT = REPO_DIR.parent
RUN_DIR = REPO_ROOT / ".demo"
# Not resolved: in a virtualenv the interpreter is a symlink and the console
# scripts (feast, moto_server) live beside the link, not its target.
BIN_DIR = Path(sys.executable).parent
HOST = "127.0.0.1"

# Drivers shown in the printed tables; chosen to include rows with a null list,
# a null map and a null string. All drivers are checked regardless.
SHOWN_DRIVERS = (1001, 1004, 1006, 1008, 1050)
# Drivers shown for the windowed view: busy ones, one quiet for the last day (its 1-hour and 1-day
# windows are empty: counts 0, means null) and one whose every transaction is late (never present).
FIRST = data_gen.FIRST_DRIVER_ID
SHOWN_ACTIVE = (FIRST, FIRST + 1, FIRST + data_gen.QUIET_DRIVER, FIRST + data_gen.GONE_DRIVER)
MISSING_DRIVER = 999_999

# Dummy credentials, and no route to a real profile: the endpoint is always the
# local moto server, and a code path that dropped endpoint_url must fail rather
# than reach real AWS with a developer's credentials.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}
REAL_AWS_ENV = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")

# Feast's CLI turns logging on at INFO when it is imported (feast/cli/serve.py calls
# logging.basicConfig(level=logging.INFO)), so its commands print every library's INFO records in
# logging's default format: botocore's "Found credentials in environment variables" once per
# client. The demo echoes what the commands say, the store's own log lines and every warning.
LIBRARY_INFO = re.compile(r"^(?:DEBUG|INFO):(?!feast_chalk_dynamo[.:])[\w.]+:")

STARTUP_TIMEOUT_S = 90.0
COMMAND_TIMEOUT_S = 600.0


class DemoError(RuntimeError):
    """A step failed for a reason already explained in the message."""


def log(message: str) -> None:
    """Progress line, flushed so it interleaves correctly with child output."""
    print(message, flush=True)


def _rel(path: Path) -> str:
    """Paths relative to the repo root read better in progress lines."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


class ManagedProcess:
    """A child server process that must not outlive the demo.

    Started in its own session so a Ctrl-C reaches only the demo, whose cleanup
    then stops the child deliberately; the session's process group also lets us
    reap workers a server forked (``feast serve`` runs gunicorn).
    """

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, env: dict[str, str]):
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        try:
            self.proc = subprocess.Popen(
                list(argv),
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        except FileNotFoundError as err:
            self._log.close()
            raise DemoError(
                f"cannot start {name}: {argv[0]} not found (is the venv set up? `make venv`)"
            ) from err

    def exited(self) -> bool:
        """Whether the process already died (e.g. port taken, bad config)."""
        return self.proc.poll() is not None

    def log_tail(self, lines: int = 30) -> str:
        """Last lines of the child's output, for error messages."""
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL the process group if it lingers."""
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=15)
            # Workers may outlive a master that exited; they share its group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        finally:
            self._log.close()
        log(f"stopped {self.name} (pid {self.proc.pid})")


def free_port() -> int:
    """A currently free loopback port (the OS picks; tiny race is acceptable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, proc: ManagedProcess, timeout: float = STARTUP_TIMEOUT_S) -> None:
    """Poll ``url`` until the server answers anything at all over HTTP."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.exited():
            raise DemoError(
                f"{proc.name} exited with code {proc.proc.returncode} before answering;"
                f" its output:\n{proc.log_tail()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # an HTTP error status still means the server is up
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.25)
    raise DemoError(f"{proc.name} did not answer {url} within {timeout:.0f}s:\n{proc.log_tail()}")


def child_env() -> dict[str, str]:
    """Environment for the feast/moto children.

    The repo root goes on PYTHONPATH because the plugin is imported by name from
    feature_store.yaml and need not be installed (nor is this example package).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(FAKE_AWS_ENV)
    for name in REAL_AWS_ENV:
        env.pop(name, None)
    return env


def run_feast(args: Sequence[str], env: dict[str, str]) -> None:
    """Run one ``feast`` CLI command in the example repo, as its user does, echoing its output."""
    log(f"$ feast {' '.join(args)}    (in {_rel(REPO_DIR)})")
    result = subprocess.run(
        [str(BIN_DIR / "feast"), *args],
        cwd=REPO_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    for line in (result.stdout + result.stderr).splitlines():
        if line.strip() and not LIBRARY_INFO.match(line):
            log(f"    {line}")
    if result.returncode != 0:
        raise DemoError(f"feast {args[0]} failed with exit code {result.returncode}")


def start_feast_serve(
    repo: Path,
    log_path: Path,
    env: dict[str, str],
    processes: list[ManagedProcess],
    serve_options: Sequence[str] = (),
) -> tuple[ManagedProcess, int]:
    """``feast serve`` of ``repo`` (its yaml's variables in ``env``) on a free loopback port, once it answers.

    It joins ``processes`` before the wait, so the caller stops it even if it never answers.
    ``serve_options`` are more of ``feast serve``'s options (``--workers``, ...).
    """
    port = free_port()
    log(f"starting feast serve on {HOST}:{port}")
    argv = [str(BIN_DIR / "feast"), "-c", str(repo)]
    argv += ["serve", "-h", HOST, "-p", str(port), "--no-access-log", *serve_options]
    serve = ManagedProcess("feast serve", argv, log_path, env)
    processes.append(serve)
    wait_for_http(f"http://{HOST}:{port}/health", serve)
    return serve, port


def fetch_http(port: int, entity_ids: Sequence[int], service: str = "driver_ranking") -> dict[str, Any]:
    """POST /get-online-features for a whole feature service."""
    body = json.dumps({"feature_service": service, "entities": {JOIN_KEY: list(entity_ids)}}).encode()
    request = urllib.request.Request(
        f"http://{HOST}:{port}/get-online-features",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            payload: dict[str, Any] = json.loads(response.read())
            return payload
    except urllib.error.HTTPError as err:
        raise DemoError(f"feast serve answered {err.code}: {err.read().decode(errors='replace')}") from err


def _display(value: Any, dtype: object) -> Any:
    """Undo transport differences (HTTP sends JSON as text, times as epoch
    seconds) so the SDK and HTTP tables read the same."""
    if isinstance(value, str) and dtype == Json:
        return json.loads(value)
    if isinstance(value, int) and dtype == UnixTimestamp:
        return datetime.fromtimestamp(value, tz=timezone.utc)
    return value


def _cell(value: Any, width: int = 26) -> str:
    """Compact one value for a table cell."""
    if value is None:
        text = "-"
    elif isinstance(value, float):
        text = f"{value:.4f}"
    elif isinstance(value, datetime):
        text = value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def format_table(values: checks.OnlineDict, features: Sequence[Field], shown: Sequence[int]) -> str:
    """Features as rows (in schema order), drivers as columns, so wide values
    such as lists and maps stay readable."""
    ids = list(values[JOIN_KEY])
    columns = [ids.index(d) for d in shown if d in ids]
    header = ["feature"] + [f"{JOIN_KEY}={ids[c]}" for c in columns]
    rows = [header]
    for feature in features:
        col = values.get(feature.name)
        if col is None:
            rows.append([feature.name] + ["(absent)"] * len(columns))
            continue
        rows.append([feature.name] + [_cell(_display(col[c], feature.dtype)) for c in columns])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  " + "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def plain_features(objects: RepoObjects) -> list[Field]:
    return [feature for view in objects.feature_views() for feature in view.features]


def read_with_sdk(objects: RepoObjects, entity_ids: Sequence[int]) -> checks.OnlineDict:
    """Read every feature of the materialized views through the Python SDK, in-process."""
    store = FeatureStore(repo_path=str(REPO_DIR))
    response = store.get_online_features(
        features=objects.feature_refs(),
        entity_rows=[{JOIN_KEY: e} for e in entity_ids],
    )
    result: checks.OnlineDict = response.to_dict()
    return result


def _age(age: pd.Timedelta) -> str:
    """An age for a person: minutes, hours or days."""
    hours = age.total_seconds() / 3600
    if hours < 1:
        return f"{hours * 60:.0f} min"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def compare_stored_bytes(objects: RepoObjects, driver_id: int) -> str:
    """What one driver costs to store here, against what Feast's DynamoDB store stores for the same rows.

    Feast's side is built by its own ``_to_client_write_item`` from the very
    values this store returns, and both are sized with DynamoDB's rules.
    """
    from feast.infra.online_stores.dynamodb import _to_client_write_item
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    from feast_chalk_dynamo.items.codec import item_size
    from feast_chalk_dynamo.items.layout import ENTITY_SK, encode_entity_key
    from feast_chalk_dynamo.items.names import project_name
    from feast_chalk_dynamo.planning.capacity import read_units, write_units

    store = FeatureStore(repo_path=str(REPO_DIR))
    online_store = store._get_provider().online_store
    engine = online_store.engine(store.config)
    entity_key = EntityKey(join_keys=[JOIN_KEY], entity_values=[Value(int64_val=driver_id)])
    project_id = engine.names.lookup(project_name(store.config.project))
    assert project_id is not None
    ours = engine.client.get_item(
        TableName=engine.settings.table_name,
        Key={"pk": {"S": encode_entity_key(project_id, entity_key)}, "sk": {"S": ENTITY_SK}},
    )["Item"]
    theirs = []
    for view in objects.feature_views():
        ((event_ts, features),) = online_store.online_read(store.config, view, [entity_key])
        assert event_ts is not None and features is not None
        theirs.append(item_size(_to_client_write_item(store.config, entity_key, features, event_ts)))
    our_bytes = item_size(ours)
    views = len(theirs)
    return (
        f"stored bytes for driver {driver_id} ({views} views): this store {our_bytes} B in 1 item "
        f"({read_units(our_bytes)} RCU to read all views, {write_units(our_bytes)} WCU per view written "
        f"row by row, {2 * write_units(our_bytes)} in a bulk transaction); "
        f"Feast's DynamoDB store {sum(theirs)} B in {views} items {theirs} "
        f"({sum(read_units(b) for b in theirs)} RCU, {[write_units(b) for b in theirs]} WCU); "
        f"ratio {our_bytes / sum(theirs):.2f}"
    )


def report(problems: Sequence[str], matched: int, what: str) -> int:
    """The exit status of the checks, with every problem (the first 50) or the count of what matched."""
    if problems:
        log(f"MISMATCH: {len(problems)} problem(s); {matched} values did match")
        for problem in problems[:50]:
            log(f"  {problem}")
        if len(problems) > 50:
            log(f"  ... and {len(problems) - 50} more")
        return 1
    log(f"OK: {what}")
    return 0


def run_demo(processes: list[ManagedProcess]) -> int:
    """All the steps; ``processes`` collects children for the caller to stop."""
    env = child_env()
    # The SDK read runs in this process, so it needs the same AWS isolation.
    os.environ.update(FAKE_AWS_ENV)
    for name in REAL_AWS_ENV:
        os.environ.pop(name, None)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))

    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(parents=True)

    dynamo_port = free_port()
    log(f"starting DynamoDB endpoint (moto) on {HOST}:{dynamo_port}")
    moto = ManagedProcess(
        "moto_server",
        [str(BIN_DIR / "moto_server"), "-H", HOST, "-p", str(dynamo_port)],
        RUN_DIR / "moto_server.log",
        env,
    )
    processes.append(moto)
    endpoint_url = f"http://{HOST}:{dynamo_port}"
    wait_for_http(endpoint_url, moto)
    log(f"DynamoDB endpoint is up at {endpoint_url}")

    log(f"generating source data in {_rel(DEFAULT_DATA_DIR)}")
    source = data_gen.generate(DEFAULT_DATA_DIR, now=datetime.now(timezone.utc))
    log(f"    {len(source.driver_ids)} drivers, event times relative to {source.now.isoformat()}")

    # The SDK reads in this process load the yaml too.
    example = variables(registry=RUN_DIR / "registry.db", endpoint_url=endpoint_url)
    env.update(example)
    os.environ.update(example)
    log(f"{_rel(REPO_DIR / 'feature_store.yaml')} reads its settings from the environment:")
    for name, value in example.items():
        log(f"    {name}={value}")

    objects = build_objects(DEFAULT_DATA_DIR)
    start = source.now - max(v.ttl for v in objects.feature_views() if v.ttl)
    end = source.now

    run_feast(["apply"], env)
    # Feast's local engine refuses to materialize a windowed view: the others are named.
    only = [flag for name in objects.materialized() for flag in ("--views", name)]
    run_feast(["materialize", start.isoformat(), end.isoformat(), *only], env)
    log(compare_stored_bytes(objects, SHOWN_DRIVERS[0]))

    # Feast warns of stream feature views as experimental whenever it loads one: `feast apply` said so.
    warnings.filterwarnings("ignore", "Stream feature views are experimental", RuntimeWarning)
    store = FeatureStore(repo_path=str(REPO_DIR))
    events = pd.read_parquet(source.transactions_path)
    ages = datetime.now(timezone.utc) - events[TIMESTAMP_FIELD]
    log(
        f"pushing {len(events):,} transactions of {events[JOIN_KEY].nunique()} drivers to "
        f"{objects.transactions_push.name!r} (event times {_age(ages.min())} to {_age(ages.max())} ago), "
        f"shuffled, in {transactions.PUSHES} pushes"
    )
    pushed = transactions.push(store, objects, events)
    log(f"    {pushed.describe(objects.driver_transactions.name)}")

    entity_ids = [*source.driver_ids, MISSING_DRIVER]
    shown = [*SHOWN_DRIVERS, MISSING_DRIVER]
    shown_active = [*SHOWN_ACTIVE, MISSING_DRIVER]
    log(f"reading {len(entity_ids)} drivers with FeatureStore.get_online_features")
    sdk_values = read_with_sdk(objects, entity_ids)
    log(format_table(sdk_values, plain_features(objects), shown))
    sdk_windowed, sdk_at = transactions.read(store, objects, entity_ids)
    log(f"  {objects.driver_transactions.name}, windows ending at the read, {sdk_at:%H:%M:%S} UTC:")
    log(format_table(sdk_windowed.values, objects.windowed_outputs(), shown_active))

    serve, serve_port = start_feast_serve(REPO_DIR, RUN_DIR / "feast_serve.log", env, processes)
    log(f"POST http://{HOST}:{serve_port}/get-online-features (feature_service=driver_ranking)")
    http = checks.parse_http_response(fetch_http(serve_port, entity_ids))
    log(format_table(http.values, plain_features(objects), shown))
    activity = objects.driver_activity.name
    log(f"POST http://{HOST}:{serve_port}/get-online-features (feature_service={activity})")
    http_windowed, http_at = transactions.in_one_bucket(
        objects, lambda: checks.parse_http_response(fetch_http(serve_port, entity_ids, activity))
    )
    serve.stop()
    processes.remove(serve)
    log(format_table(http_windowed.values, objects.windowed_outputs(), shown_active))

    log("checking served values against the source data")
    expected = checks.expected_online_features(objects.feature_views(), entity_ids, start=start, end=end)
    views = objects.feature_views()
    sdk_ok, sdk_problems = checks.compare(expected.values, sdk_values, views, label="sdk")
    http_ok, http_problems = checks.compare(expected.values, http.values, views, label="http")
    ts_ok, ts_problems = checks.compare_event_timestamps(expected, http, views, label="http")
    windowed = [
        transactions.check(objects, pushed, entity_ids, sdk_windowed, sdk_at, "sdk"),
        transactions.check(objects, pushed, entity_ids, http_windowed, http_at, "http"),
    ]
    windowed_ok = sum(ok for ok, _ in windowed)
    windowed_problems = [problem for _, found in windowed for problem in found]
    windowed_problems += transactions.check_late(objects, pushed)
    return report(
        sdk_problems + http_problems + ts_problems + windowed_problems,
        sdk_ok + http_ok + ts_ok + windowed_ok,
        f"{sdk_ok + http_ok} values match the source data ({sdk_ok} via the SDK, {http_ok} via HTTP; "
        f"{ts_ok} event timestamps too); {windowed_ok} windowed values and event times match pandas over "
        f"the transactions (via the SDK and HTTP), and so do the {pushed.late} events dropped as late",
    )


def main() -> int:
    """Run the demo and always stop what it started."""
    processes: list[ManagedProcess] = []
    try:
        return run_demo(processes)
    except DemoError as err:
        log(f"FAILED: {err}")
        return 2
    finally:
        for proc in reversed(processes):
            proc.stop()


if __name__ == "__main__":
    raise SystemExit(main())
