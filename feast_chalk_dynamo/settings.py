"""Every tuning knob of the store, its default from the seed, and its env var.

Operators tune a running deployment through ``DYNAMODB_*`` environment
variables (as Chalk documents them) while the repo keeps its baseline in
``feature_store.yaml``; so each knob is a pydantic field that is overlaid by
its environment variable before validation. Precedence: environment variable,
then yaml, then the default.
"""

from __future__ import annotations

import json
import os
import re
from typing import Annotated, Any, Literal

from feast.repo_config import FeastConfigBaseModel
from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError, model_validator

ENV_PREFIX = "DYNAMODB_"

# A reference to an environment variable as Feast's expansion of feature_store.yaml
# (os.path.expandvars) finds it: ``$NAME`` or ``${NAME}``. It leaves one whose variable is not set as
# it is, and no value of this store's section holds a ``$`` of its own.
_VARIABLE = re.compile(r"\$(?:(\w+)|\{([^}]*)\})")

Source = Literal["env", "yaml", "default"]


def desired_cpu_parallelism() -> int:
    """The cores this process may run on: the unit the seed sizes pools in.

    ``sched_getaffinity`` honours CPU pinning (containers, taskset), which
    ``os.cpu_count`` ignores; a pod limited to two cores should not start
    thirty-two client threads.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def unset_variables(value: Any) -> list[str]:
    """The environment variables Feast left unexpanded in a value of feature_store.yaml (in its lists
    and mappings too): the ones that were not set when it loaded the file."""
    if isinstance(value, str):
        return [match.group(1) or match.group(2) for match in _VARIABLE.finditer(value)]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [name for item in value for name in unset_variables(item)]
    return []


def refuse_unset_variables(setting: str, value: Any) -> None:
    """A ``ValueError`` naming the variable that ``setting`` needs and that is not set.

    Unchecked, the reference would be taken for the value: a table or a
    registry file literally named ``${NAME}``.
    """
    names = unset_variables(value)
    if names:
        raise ValueError(
            f"{setting} is {value!r}: the environment variable {names[0]} is not set (Feast puts each "
            "variable's value in place of ${NAME} in feature_store.yaml, and leaves one that is not set "
            "as it is)"
        )


def _blank_is_none(value: Any) -> Any:
    """An empty endpoint (a variable set to "") is no endpoint: AWS's for the region, as when the
    key is left out, for every client alike (boto3 would refuse "" as a URL)."""
    return None if isinstance(value, str) and not value.strip() else value


Endpoint = Annotated[str | None, BeforeValidator(_blank_is_none)]


class CachedNamespace(FeastConfigBaseModel):
    """One entry of ``DYNAMODB_CACHED_NAMESPACES``: a feature view's LRU cache."""

    namespace: str = Field(min_length=1)
    ttl_seconds: float = Field(default=86400, gt=0)
    max_lru_size: int | None = Field(default=None, ge=1)


class BloomNamespace(FeastConfigBaseModel):
    """One entry of ``DYNAMODB_BLOOM_FILTERS``: a feature view whose absent keys cost no read.

    The filter is pybloom-live's scalable filter: it starts sized for
    ``expected_keys`` and grows past it (each new stage tighter) so the false
    positive rate stays within ``error_rate`` however many keys are written.
    """

    namespace: str = Field(min_length=1)
    expected_keys: int = Field(default=1_000_000, ge=1)
    error_rate: float = Field(default=0.001, gt=0, lt=1)


class RegionEndpoint(FeastConfigBaseModel):
    """One entry of ``DYNAMODB_REGIONS``: a replica region of the Global Table, in order of preference.

    ``endpoint_url`` is for a VPC endpoint or a local stand-in; None (or empty)
    is the region's public DynamoDB endpoint.
    """

    region: str = Field(min_length=1)
    endpoint_url: Endpoint = None


class DynamoSettings(FeastConfigBaseModel):
    """Connection settings plus every ``DYNAMODB_*`` knob of the seed.

    ``extra="forbid"`` (from Feast's base model) turns a misspelt yaml key
    into a start-up error instead of a silently ignored setting.
    """

    table_name: str = Field(default="feast-online-store", min_length=3, max_length=255)
    region: str = Field(default="us-east-1", min_length=1)
    endpoint_url: Endpoint = None
    consistent_reads: bool = False
    # "fast": signed raw HTTP + orjson for reads; "boto3": botocore end to end (the reference).
    read_path: Literal["fast", "boto3"] = "fast"

    # Client threads and connections: None means "derive from the cores".
    num_client_threads: int | None = Field(default=None, ge=1)
    num_client_connections: int | None = Field(default=None, ge=1)
    num_serde_threads: int | None = Field(default=None, ge=1)
    # Read batching.
    getitem_min_batch_size: int = Field(default=10, ge=1, le=100)
    getitem_min_batch_concurrency: int | None = Field(default=None, ge=1)
    # Caches and Bloom filter.
    cached_namespaces: list[CachedNamespace] | None = None
    lru_cache_cache_misses: bool = True
    bloom_filter_debug_mode: bool = False
    # Not in the seed (Chalk configures its filters elsewhere): the views that
    # get a Bloom filter, and how often a reader picks up keys other
    # processes published; a key written elsewhere may read as absent for up
    # to this long.
    bloom_filters: list[BloomNamespace] | None = None
    bloom_filter_refresh_seconds: float = Field(default=10.0, gt=0)
    # Request racing.
    enable_request_racing: bool = False
    request_racing_wait_time: float | None = Field(default=None, gt=0)
    # Writes and consistency.
    check_ts_for_bulk_writes: bool = True
    only_write_newer_values: bool = True
    transaction_write_conflict_min_retry_millis: float = Field(default=50, ge=0)
    transaction_write_conflict_max_retries: int = Field(default=5, ge=0)
    aggregate_update_cache_size: int = Field(default=256, ge=0)
    # Not in the seed: a write of at least this many distinct entities is a
    # bulk write (materialization); fewer (pushes) go one guarded UpdateItem
    # per row, which costs half the write units of a transaction.
    bulk_write_min_rows: int = Field(default=16, ge=1)
    # Retries and timeouts.
    max_retries: int = Field(default=12, ge=0)
    retry_scale_factor: float = Field(default=10, gt=0)
    request_timeout_ms: float | None = Field(default=None, gt=0)
    # Initialization.
    warmup_fqn_mapping: bool = True
    create_tables_if_not_exists: bool = False
    # Not in the seed. How stale a process's name mapping may be: the
    # generation item is read at most this often (0: before every call).
    mapping_refresh_seconds: float = Field(default=5.0, ge=0)
    # Not in the seed: Feast's online stores serve the newest row whatever
    # its age, so read-time expiry by a view's ttl, and DynamoDB item expiry,
    # are opt-in (Chalk's behaviour).
    chalk_style_expiry: bool = False
    # Not in the seed: the Global Table's regions, first preferred (see
    # regions.py). Empty: ``region``/``endpoint_url`` alone, as before.
    regions: list[RegionEndpoint] | None = None
    # A region is unhealthy after this many requests in a row failed there
    # (connection errors, timeouts, 5xx, each after its retries) and is
    # probed with one request every region_probe_seconds until it answers.
    region_failures_to_unhealthy: int = Field(default=3, ge=1)
    region_probe_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _overlay_environment(cls, data: Any) -> Any:
        # Run after _refuse_unset_variables (pydantic runs "before" validators last defined first): a
        # DYNAMODB_* value is not Feast's to expand.
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name in knob_names(cls):
            raw = os.environ.get(env_var(name))
            if raw is not None:
                merged[name] = _parse_env_value(cls, name, raw)
        return merged

    @model_validator(mode="before")
    @classmethod
    def _refuse_unset_variables(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                refuse_unset_variables(f"online_store.{name}", value)
        return data

    @model_validator(mode="after")
    def _check_pairs(self) -> DynamoSettings:
        if self.enable_request_racing and self.request_racing_wait_time is None:
            raise ValueError(
                "enable_request_racing (DYNAMODB_ENABLE_REQUEST_RACING) is on but "
                "request_racing_wait_time (DYNAMODB_REQUEST_RACING_WAIT_TIME) is not "
                "set: give the wait in milliseconds, roughly your p95 read latency"
            )
        return self

    @property
    def region_endpoints(self) -> list[RegionEndpoint]:
        """The regions requests may go to, preferred first: ``regions``, else the one ``region``."""
        return self.regions or [RegionEndpoint(region=self.region, endpoint_url=self.endpoint_url)]

    def for_region(self, endpoint: RegionEndpoint) -> DynamoSettings:
        """These settings aimed at one region: what a per-region transport or client is built from."""
        return self.model_copy(update={"region": endpoint.region, "endpoint_url": endpoint.endpoint_url})

    @property
    def client_threads(self) -> int:
        return self.num_client_threads or 2 * desired_cpu_parallelism()

    @property
    def client_connections(self) -> int:
        return self.num_client_connections or 2 * desired_cpu_parallelism()

    @property
    def serde_threads(self) -> int:
        return self.num_serde_threads or desired_cpu_parallelism()

    @property
    def batch_concurrency(self) -> int:
        return self.getitem_min_batch_concurrency or self.client_threads


# Fields that are not tuning knobs and so have no DYNAMODB_* variable.
_CONNECTION_FIELDS = frozenset(
    {"type", "table_name", "region", "endpoint_url", "consistent_reads", "read_path"}
)


# Knobs whose environment variable holds JSON.
_JSON_KNOBS = frozenset({"cached_namespaces", "bloom_filters", "regions"})


def knob_names(model: type[DynamoSettings]) -> list[str]:
    return [name for name in model.model_fields if name not in _CONNECTION_FIELDS]


def env_var(knob: str) -> str:
    return ENV_PREFIX + knob.upper()


def _parse_env_value(model: type[DynamoSettings], name: str, raw: str) -> Any:
    """Validate one env value on its own so the error names the variable, not the field."""
    variable = env_var(name)
    value: Any = raw
    if name in _JSON_KNOBS:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ValueError(f"{variable} is not valid JSON ({error}): {raw!r}") from None
    elif raw.strip().lower() in ("", "none", "null"):
        value = None
    try:
        field = model.model_fields[name]
        # Annotated carries the field's bounds (ge=1 …) so they are checked here too.
        constrained = (
            Annotated[tuple([field.annotation, *field.metadata])] if field.metadata else field.annotation
        )
        TypeAdapter(constrained).validate_python(value)
    except ValidationError as error:
        problems = "; ".join(e["msg"] for e in error.errors())
        raise ValueError(f"{variable}={raw!r} is invalid: {problems}") from None
    return value


def describe(settings: DynamoSettings) -> list[tuple[str, str, Any, Source]]:
    """(field, env var, effective value, where it came from) for every knob.

    Derived from the environment and ``model_fields_set`` rather than recorded
    at validation time, so it cannot drift from what validation did.
    """
    rows: list[tuple[str, str, Any, Source]] = []
    for name in type(settings).model_fields:
        if name == "type":
            continue
        variable = env_var(name) if name not in _CONNECTION_FIELDS else "-"
        source: Source
        if variable != "-" and variable in os.environ:
            source = "env"
        elif name in settings.model_fields_set:
            source = "yaml"
        else:
            source = "default"
        rows.append((name, variable, getattr(settings, name), source))
    return rows
