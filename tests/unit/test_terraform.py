"""The Terraform module (feast_chalk_dynamo/terraform, package data), held to what the code expects
and calls.

Keys, types and the TTL attribute are compared with the table the store
itself creates (``TableAdmin.ensure`` with ``create_tables_if_not_exists``,
recorded on a fake client); the IAM actions with the DynamoDB calls read off
the package's source (``tests/dynamodb_calls.py``). A new call in the code
fails here until a policy grants it, and a granted action the code no longer
calls fails too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from feast.infra.online_stores import dynamodb as feast_dynamodb

import feast_chalk_dynamo
from feast_chalk_dynamo.dynamo.tables import EXPECTED_KEYS
from feast_chalk_dynamo.items.layout import EXPIRY_ATTR
from feast_chalk_dynamo.items.lifecycle import TableAdmin
from feast_chalk_dynamo.settings import DynamoSettings
from tests.dynamodb_calls import Site, iam_actions, sites_in_package, sites_in_source
from tests.terraform_config import TERRAFORM_DIR, TFVARS_EXAMPLE, Terraform, load, parse

PACKAGE_DIR = Path(feast_chalk_dynamo.__file__).parent
MIGRATE = "feast_chalk_dynamo.migrate"
# The only code paths that manage the table itself: creating it (and turning
# TTL on) under create_tables_if_not_exists, and deleting a table the store
# created, at teardown. An operation called nowhere else needs no runtime grant.
TABLE_LIFECYCLE = frozenset(
    {
        ("feast_chalk_dynamo.dynamo.tables", "Table._create"),
        ("feast_chalk_dynamo.items.lifecycle", "TableAdmin.drop_if_ours_and_empty"),
    }
)
# --verify reads Feast's tables back through Feast's own store, whose
# synchronous read is this method (with its nested helpers).
FEAST_READ = "DynamoDBOnlineStore.online_read"


@pytest.fixture(scope="module")
def terraform() -> Terraform:
    return load()


@pytest.fixture(scope="module")
def package_sites() -> list[Site]:
    return sites_in_package(PACKAGE_DIR, "feast_chalk_dynamo")


def test_every_file_parses_and_the_layout_is_complete() -> None:
    files = {path.name for path in TERRAFORM_DIR.iterdir()}
    expected = {"versions.tf", "main.tf", "variables.tf", "autoscaling.tf", "iam.tf", "outputs.tf"}
    assert expected | {TFVARS_EXAMPLE.name} <= files
    for path in sorted(TERRAFORM_DIR.glob("*.tf")) + [TFVARS_EXAMPLE]:
        assert parse(path), path


def test_every_reference_is_declared_and_every_variable_used(terraform: Terraform) -> None:
    """What ``terraform validate`` would catch first, without a provider to download."""
    text = "\n".join(path.read_text() for path in sorted(TERRAFORM_DIR.glob("*.tf")))
    declared = set(terraform.variables())
    used = set(re.findall(r"\bvar\.(\w+)", text))
    assert used == declared
    assert set(parse(TFVARS_EXAMPLE)) <= declared
    assert set(re.findall(r"\blocal\.(\w+)", text)) <= set(terraform.locals())
    for kind, name in re.findall(r"(?<![\w.])(aws_\w+)\.(\w+)", text):
        assert name in terraform.resources(kind), f"{kind}.{name} is referenced but not declared"
    for kind, name in re.findall(r"\bdata\.(aws_\w+)\.(\w+)", text):
        assert terraform.data(kind, name) is not None


# -- the table ----------------------------------------------------------------


class _RecordingClient:
    """Answers what ``TableAdmin.ensure`` asks when the table is missing, and keeps what it sent."""

    def __init__(self) -> None:
        self.sent: dict[str, dict[str, Any]] = {}

    def describe_table(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "DescribeTable")

    def create_table(self, **request: Any) -> None:
        self.sent["CreateTable"] = request

    def get_waiter(self, _: str) -> Any:
        return self

    def wait(self, **_: Any) -> None:
        pass

    def put_item(self, **_: Any) -> None:
        pass

    def update_time_to_live(self, **request: Any) -> None:
        self.sent["UpdateTimeToLive"] = request


@pytest.fixture(scope="module")
def created() -> dict[str, dict[str, Any]]:
    """The requests the store sends to create its own table."""
    client = _RecordingClient()
    settings = DynamoSettings(table_name="feast-online-store", create_tables_if_not_exists=True)
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert TableAdmin(client, settings, pool).ensure()
    return client.sent


def test_table_is_keyed_as_the_store_creates_and_checks_it(
    terraform: Terraform, created: dict[str, dict[str, Any]]
) -> None:
    table = terraform.resource("aws_dynamodb_table", "online_store")
    key_schema = [
        {"AttributeName": table["hash_key"], "KeyType": "HASH"},
        {"AttributeName": table["range_key"], "KeyType": "RANGE"},
    ]
    assert key_schema == created["CreateTable"]["KeySchema"] == EXPECTED_KEYS
    definitions = [{"AttributeName": a["name"], "AttributeType": a["type"]} for a in table["attribute"]]
    assert definitions == created["CreateTable"]["AttributeDefinitions"]


def test_ttl_is_on_the_attribute_the_store_writes_expiry_to(
    terraform: Terraform, created: dict[str, dict[str, Any]]
) -> None:
    (ttl,) = terraform.resource("aws_dynamodb_table", "online_store")["ttl"]
    assert ttl == {"attribute_name": EXPIRY_ATTR, "enabled": True}
    assert created["UpdateTimeToLive"]["TimeToLiveSpecification"] == {
        "Enabled": True,
        "AttributeName": EXPIRY_ATTR,
    }


def test_billing_mode_selects_on_demand_or_provisioned_capacity(terraform: Terraform) -> None:
    variable = terraform.variables()["billing_mode"]
    assert variable["default"] == "PAY_PER_REQUEST"
    (validation,) = variable["validation"]
    assert validation["condition"] == '${contains(["PAY_PER_REQUEST", "PROVISIONED"], var.billing_mode)}'
    assert terraform.local("provisioned") == '${var.billing_mode == "PROVISIONED"}'
    table = terraform.resource("aws_dynamodb_table", "online_store")
    assert table["billing_mode"] == "${var.billing_mode}"
    assert table["read_capacity"] == "${local.provisioned ? var.read_min_capacity : null}"
    assert table["write_capacity"] == "${local.provisioned ? var.write_min_capacity : null}"


def test_replicas_make_a_global_table_with_both_images_on_the_stream(terraform: Terraform) -> None:
    table = terraform.resource("aws_dynamodb_table", "online_store")
    assert terraform.local("global_table") == "${length(var.replica_regions) > 0}"
    assert terraform.variables()["replica_regions"]["default"] == []  # single region unless asked
    assert table["stream_enabled"] == "${local.global_table}"
    assert table["stream_view_type"] == '${local.global_table ? "NEW_AND_OLD_IMAGES" : null}'
    assert "replica" not in table  # only the dynamic blocks, one per listed region
    (dynamic,) = table["dynamic"]
    assert dynamic["replica"]["for_each"] == "${var.replica_regions}"
    (replica,) = dynamic["replica"]["content"]
    assert replica["region_name"] == "${replica.value}"
    assert replica["point_in_time_recovery"] is True


def test_point_in_time_recovery_and_encryption_at_rest_are_on(terraform: Terraform) -> None:
    table = terraform.resource("aws_dynamodb_table", "online_store")
    assert table["point_in_time_recovery"] == [{"enabled": True}]
    (encryption,) = table["server_side_encryption"]
    assert encryption["enabled"] is True
    assert terraform.resolve(encryption["kms_key_arn"]) is None  # the AWS managed key unless one is given


@pytest.mark.parametrize("side", ["read", "write"])
def test_provisioned_capacity_is_autoscaled_at_70_percent(terraform: Terraform, side: str) -> None:
    unit = side.capitalize()
    target = terraform.resource("aws_appautoscaling_target", side)
    policy = terraform.resource("aws_appautoscaling_policy", side)
    assert target["count"] == policy["count"] == "${local.provisioned ? 1 : 0}"
    assert target["service_namespace"] == "dynamodb"
    assert target["resource_id"] == "table/${aws_dynamodb_table.online_store.name}"
    assert target["scalable_dimension"] == f"dynamodb:table:{unit}CapacityUnits"
    assert target["min_capacity"] == f"${{var.{side}_min_capacity}}"
    assert target["max_capacity"] == f"${{var.{side}_max_capacity}}"
    assert policy["policy_type"] == "TargetTrackingScaling"
    for field in ("service_namespace", "resource_id", "scalable_dimension"):
        assert policy[field] == f"${{aws_appautoscaling_target.{side}[0].{field}}}"
    (tracking,) = policy["target_tracking_scaling_policy_configuration"]
    (metric,) = tracking["predefined_metric_specification"]
    assert metric["predefined_metric_type"] == f"DynamoDB{unit}CapacityUtilization"
    assert terraform.resolve(tracking["target_value"]) == 70


# -- IAM ----------------------------------------------------------------------


def _granted(terraform: Terraform, document: str) -> frozenset[str]:
    statements = terraform.data("aws_iam_policy_document", document)["statement"]
    return frozenset(action for statement in statements for action in statement["actions"])


def _mismatch(needed: frozenset[str], granted: frozenset[str], sites: Iterable[Site]) -> str:
    first = {f"dynamodb:{site.operation}": site for site in reversed(list(sites))}
    missing = [f"{action} (called at {_where(first[action])})" for action in sorted(needed - granted)]
    return f"not granted: {missing or 'none'}; granted but never called: {sorted(granted - needed) or 'none'}"


def _where(site: Site) -> str:
    return f"{site.module}:{site.line} in {site.function or 'module level'}"


def _lifecycle_only(sites: list[Site]) -> set[str]:
    """Operations called (inside some function) only on the table lifecycle paths.

    Module-level sites are names, not calls (a set of operation names a hook
    compares against): they decide nothing here.
    """
    in_functions = [site for site in sites if site.function]
    elsewhere = {
        site.operation for site in in_functions if (site.module, site.function) not in TABLE_LIFECYCLE
    }
    return {site.operation for site in in_functions} - elsewhere


def _store_sites(package_sites: list[Site]) -> list[Site]:
    return [site for site in package_sites if not site.module.startswith(MIGRATE)]


def _split(store_sites: list[Site]) -> tuple[frozenset[str], frozenset[str]]:
    """(runtime actions, table management actions) the store's own calls need."""
    lifecycle = _lifecycle_only(store_sites)
    management = iam_actions(site for site in store_sites if site.operation in lifecycle)
    return iam_actions(store_sites) - management, management


def test_store_policy_grants_exactly_what_the_store_calls_on_an_existing_table(
    terraform: Terraform, package_sites: list[Site]
) -> None:
    store_sites = _store_sites(package_sites)
    runtime, _ = _split(store_sites)
    granted = _granted(terraform, "store")
    assert runtime == granted, _mismatch(runtime, granted, store_sites)


def test_table_management_policy_grants_exactly_the_lifecycle_calls(
    terraform: Terraform, package_sites: list[Site]
) -> None:
    store_sites = _store_sites(package_sites)
    _, management = _split(store_sites)
    granted = _granted(terraform, "table_management")
    paths = {(site.module, site.function) for site in store_sites}
    assert paths >= TABLE_LIFECYCLE, f"a lifecycle path was renamed: {TABLE_LIFECYCLE - paths}"
    assert management == granted, _mismatch(management, granted, store_sites)


def test_migration_policy_grants_exactly_what_migrate_and_feasts_read_call(
    terraform: Terraform, package_sites: list[Site]
) -> None:
    feast_sites = [
        site
        for site in sites_in_source(Path(feast_dynamodb.__file__).read_text(), feast_dynamodb.__name__)
        if site.function == FEAST_READ or site.function.startswith(FEAST_READ + ".")
    ]
    migrate_sites = [site for site in package_sites if site.module.startswith(MIGRATE)] + feast_sites
    needed = iam_actions(migrate_sites)
    granted = _granted(terraform, "migration")
    assert needed == granted, _mismatch(needed, granted, migrate_sites)


def test_a_new_call_fails_the_check_until_granted(terraform: Terraform, package_sites: list[Site]) -> None:
    new_call = sites_in_source(
        "def prune(client):\n    client.delete_backup(BackupArn='arn')\n", "feast_chalk_dynamo.backups"
    )
    runtime, _ = _split(_store_sites(package_sites) + new_call)
    assert runtime - _granted(terraform, "store") == {"dynamodb:DeleteBackup"}


def test_policies_name_the_table_and_nothing_wider(terraform: Terraform) -> None:
    table_arns = terraform.local("table_arns")
    assert table_arns == (
        "${concat([aws_dynamodb_table.online_store.arn], "
        "[for replica in aws_dynamodb_table.online_store.replica : replica.arn])}"
    )
    documents = ("store", "table_management", "migration")
    statements = [
        s for name in documents for s in terraform.data("aws_iam_policy_document", name)["statement"]
    ]
    for statement in statements:
        assert statement["effect"] == "Allow"
        assert not any("*" in action for action in statement["actions"]), statement["sid"]
    for name in ("store", "table_management"):
        (statement,) = terraform.data("aws_iam_policy_document", name)["statement"]
        assert statement["resources"] == "${local.table_arns}"
    (migration,) = terraform.data("aws_iam_policy_document", "migration")["statement"]
    (feast_tables,) = migration["resources"]
    assert feast_tables.endswith(":table/${var.migration_table_prefix}*")
