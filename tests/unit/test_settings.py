"""Configuration: defaults from the seed, env overlay, and errors that name the knob."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from feast_chalk_dynamo import ChalkDynamoOnlineStoreConfig
from feast_chalk_dynamo.dynamo.client import RawHttpTransport, make_client
from feast_chalk_dynamo.settings import (
    DynamoSettings,
    RegionEndpoint,
    describe,
    desired_cpu_parallelism,
    env_var,
    knob_names,
)

SEED_DEFAULTS = {
    "getitem_min_batch_size": 10,
    "cached_namespaces": None,
    "lru_cache_cache_misses": True,
    "bloom_filter_debug_mode": False,
    "enable_request_racing": False,
    "request_racing_wait_time": None,
    "check_ts_for_bulk_writes": True,
    "only_write_newer_values": True,
    "transaction_write_conflict_min_retry_millis": 50,
    "transaction_write_conflict_max_retries": 5,
    "aggregate_update_cache_size": 256,
    "max_retries": 12,
    "retry_scale_factor": 10,
    "request_timeout_ms": None,
    "warmup_fqn_mapping": True,
    "create_tables_if_not_exists": False,
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in knob_names(ChalkDynamoOnlineStoreConfig):
        monkeypatch.delenv(env_var(name), raising=False)


def test_every_seed_knob_has_its_default() -> None:
    config = ChalkDynamoOnlineStoreConfig()
    for name, default in SEED_DEFAULTS.items():
        assert getattr(config, name) == default, name
    cores = desired_cpu_parallelism()
    assert config.client_threads == 2 * cores
    assert config.client_connections == 2 * cores
    assert config.serde_threads == cores
    assert config.batch_concurrency == config.client_threads
    assert config.consistent_reads is False


def test_every_knob_is_an_env_var() -> None:
    seed_vars = {
        "DYNAMODB_NUM_CLIENT_THREADS", "DYNAMODB_NUM_CLIENT_CONNECTIONS", "DYNAMODB_NUM_SERDE_THREADS",
        "DYNAMODB_GETITEM_MIN_BATCH_SIZE", "DYNAMODB_GETITEM_MIN_BATCH_CONCURRENCY",
        "DYNAMODB_CACHED_NAMESPACES", "DYNAMODB_LRU_CACHE_CACHE_MISSES", "DYNAMODB_BLOOM_FILTER_DEBUG_MODE",
        "DYNAMODB_ENABLE_REQUEST_RACING", "DYNAMODB_REQUEST_RACING_WAIT_TIME",
        "DYNAMODB_CHECK_TS_FOR_BULK_WRITES", "DYNAMODB_ONLY_WRITE_NEWER_VALUES",
        "DYNAMODB_TRANSACTION_WRITE_CONFLICT_MIN_RETRY_MILLIS",
        "DYNAMODB_TRANSACTION_WRITE_CONFLICT_MAX_RETRIES",
        "DYNAMODB_AGGREGATE_UPDATE_CACHE_SIZE", "DYNAMODB_MAX_RETRIES", "DYNAMODB_RETRY_SCALE_FACTOR",
        "DYNAMODB_REQUEST_TIMEOUT_MS", "DYNAMODB_WARMUP_FQN_MAPPING", "DYNAMODB_CREATE_TABLES_IF_NOT_EXISTS",
    }  # fmt: skip
    ours = {  # not in the seed
        "DYNAMODB_MAPPING_REFRESH_SECONDS",
        "DYNAMODB_CHALK_STYLE_EXPIRY",
        "DYNAMODB_BULK_WRITE_MIN_ROWS",
        "DYNAMODB_BLOOM_FILTERS",
        "DYNAMODB_BLOOM_FILTER_REFRESH_SECONDS",
        "DYNAMODB_REGIONS",
        "DYNAMODB_REGION_FAILURES_TO_UNHEALTHY",
        "DYNAMODB_REGION_PROBE_SECONDS",
    }
    assert {env_var(n) for n in knob_names(ChalkDynamoOnlineStoreConfig)} == seed_vars | ours


def test_env_beats_yaml_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMODB_MAX_RETRIES", "3")
    config = ChalkDynamoOnlineStoreConfig(max_retries=7, getitem_min_batch_size=20)
    assert config.max_retries == 3
    assert config.getitem_min_batch_size == 20
    sources = {row[0]: row[3] for row in describe(config)}
    assert sources["max_retries"] == "env"
    assert sources["getitem_min_batch_size"] == "yaml"
    assert sources["aggregate_update_cache_size"] == "default"


def test_cached_namespaces_from_env_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "DYNAMODB_CACHED_NAMESPACES",
        '[{"namespace": "driver_stats", "ttl_seconds": 60, "max_lru_size": 100}]',
    )
    config = ChalkDynamoOnlineStoreConfig()
    assert config.cached_namespaces is not None
    assert config.cached_namespaces[0].namespace == "driver_stats"
    assert config.cached_namespaces[0].max_lru_size == 100


def test_regions_from_env_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "DYNAMODB_REGIONS", '[{"region": "us-east-1", "endpoint_url": "http://a"}, {"region": "us-west-2"}]'
    )
    config = ChalkDynamoOnlineStoreConfig(region="eu-west-1")
    assert [(r.region, r.endpoint_url) for r in config.region_endpoints] == [
        ("us-east-1", "http://a"),
        ("us-west-2", None),
    ]
    assert config.for_region(config.region_endpoints[1]).region == "us-west-2"


def test_no_regions_means_the_one_region() -> None:
    config = ChalkDynamoOnlineStoreConfig(region="eu-west-1", endpoint_url="http://b")
    assert [(r.region, r.endpoint_url) for r in config.region_endpoints] == [("eu-west-1", "http://b")]


def test_bloom_filters_from_env_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMODB_BLOOM_FILTERS", '[{"namespace": "driver_stats", "error_rate": 0.01}]')
    config = ChalkDynamoOnlineStoreConfig()
    assert config.bloom_filters is not None
    assert config.bloom_filters[0].namespace == "driver_stats"
    assert config.bloom_filters[0].error_rate == 0.01
    assert config.bloom_filters[0].expected_keys == 1_000_000


@pytest.mark.parametrize(
    "raw",
    [
        '[{"namespace": "v", "error_rate": 1.5}]',
        '[{"namespace": "v", "expected_key": 5}]',
        "[{",
        '{"namespace": "v"}',
    ],
)
def test_bad_bloom_filters_name_the_variable(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("DYNAMODB_BLOOM_FILTERS", raw)
    with pytest.raises(ValueError, match="DYNAMODB_BLOOM_FILTERS"):
        ChalkDynamoOnlineStoreConfig()


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        ("DYNAMODB_CACHED_NAMESPACES", "[{namespace: x}", "DYNAMODB_CACHED_NAMESPACES is not valid JSON"),
        ("DYNAMODB_MAX_RETRIES", "lots", "DYNAMODB_MAX_RETRIES='lots' is invalid"),
        ("DYNAMODB_GETITEM_MIN_BATCH_SIZE", "-1", "DYNAMODB_GETITEM_MIN_BATCH_SIZE='-1' is invalid"),
        ("DYNAMODB_WARMUP_FQN_MAPPING", "maybe", "DYNAMODB_WARMUP_FQN_MAPPING='maybe' is invalid"),
    ],
)
def test_bad_env_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=needle.replace("[", r"\[")):
        ChalkDynamoOnlineStoreConfig()


def test_misspelt_yaml_key_is_an_error() -> None:
    with pytest.raises(ValidationError, match="max_retrys"):
        ChalkDynamoOnlineStoreConfig.model_validate({"max_retrys": 3})


def test_racing_without_wait_time_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMODB_ENABLE_REQUEST_RACING", "true")
    with pytest.raises(ValidationError, match="DYNAMODB_REQUEST_RACING_WAIT_TIME"):
        ChalkDynamoOnlineStoreConfig()
    monkeypatch.setenv("DYNAMODB_REQUEST_RACING_WAIT_TIME", "12")
    assert ChalkDynamoOnlineStoreConfig().request_racing_wait_time == 12


def test_batch_size_over_protocol_limit_is_an_error() -> None:
    with pytest.raises(ValidationError, match="getitem_min_batch_size"):
        ChalkDynamoOnlineStoreConfig(getitem_min_batch_size=101)


# Names as os.path.expandvars reads them (\w+), none set in the environment of the test.
UNSET_NAMES = st.from_regex(r"[A-Za-z_]\w{0,20}", fullmatch=True).filter(lambda name: name not in os.environ)


@given(
    name=UNSET_NAMES,
    braces=st.booleans(),
    setting=st.sampled_from(["table_name", "region", "endpoint_url", "max_retries", "regions"]),
)
def test_a_variable_feast_left_unexpanded_is_refused_naming_it(name: str, braces: bool, setting: str) -> None:
    """Feast leaves ``${NAME}`` (or ``$NAME``) as it is when NAME is not set: taken for a value, it named
    a table, a region or an endpoint "${NAME}"."""
    reference = f"${{{name}}}" if braces else f"${name}"
    value: object = f"prefix-{reference}"
    if setting == "regions":
        value = [{"region": "us-east-1"}, {"region": "eu-west-1", "endpoint_url": f"http://{reference}"}]
    with pytest.raises(ValidationError) as refused:
        ChalkDynamoOnlineStoreConfig.model_validate({setting: value})
    assert f"online_store.{setting} is " in str(refused.value)
    assert f"the environment variable {name} is not set" in str(refused.value)


def test_a_knob_from_its_own_variable_is_not_feast_s_to_expand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMODB_CACHED_NAMESPACES", '[{"namespace": "$view"}]')
    config = ChalkDynamoOnlineStoreConfig()
    assert config.cached_namespaces is not None
    assert config.cached_namespaces[0].namespace == "$view"


def assert_both_clients_reach(settings: DynamoSettings, endpoint: str) -> None:
    """boto3's client and the fast read path's transport both send to ``endpoint``."""
    assert make_client(settings).meta.endpoint_url == endpoint
    transport = RawHttpTransport(settings)
    try:
        assert transport.endpoint == endpoint
    finally:
        transport.close()


@pytest.mark.parametrize("blank", ["", "  "])
def test_an_empty_endpoint_is_aws_s_for_the_region(blank: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable set empty for AWS: boto3 refused "" as a URL, while the fast read path took it for
    AWS's endpoint."""
    config = ChalkDynamoOnlineStoreConfig(region="eu-west-1", endpoint_url=blank)
    assert config.endpoint_url is None
    assert_both_clients_reach(config, "https://dynamodb.eu-west-1.amazonaws.com")
    monkeypatch.setenv("DYNAMODB_REGIONS", json.dumps([{"region": "eu-west-1", "endpoint_url": blank}]))
    assert ChalkDynamoOnlineStoreConfig().region_endpoints == [RegionEndpoint(region="eu-west-1")]


def test_an_empty_region_is_refused() -> None:
    with pytest.raises(ValidationError, match="region"):
        ChalkDynamoOnlineStoreConfig(region="")


def test_both_transports_send_where_aws_configuration_says_without_an_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """boto3 follows AWS_ENDPOINT_URL_DYNAMODB; the fast path built the region's public URL instead,
    so a deployment using it read from one endpoint and wrote to another."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
    settings = DynamoSettings(region="eu-west-1")
    assert_both_clients_reach(settings, "http://127.0.0.1:9")
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB")
    assert_both_clients_reach(settings, "https://dynamodb.eu-west-1.amazonaws.com")
