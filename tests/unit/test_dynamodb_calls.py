"""The call analyser on small synthetic modules: each way of reaching DynamoDB is seen, nothing else is."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dynamodb_calls import Site, Unresolved, iam_actions, sites_in_package, sites_in_source


def _actions(source: str) -> frozenset[str]:
    return iam_actions(sites_in_source(source, "synthetic"))


def test_a_client_method_call_on_any_receiver_is_its_operation() -> None:
    source = """
def prune(client, admin):
    client.delete_backup(BackupArn="arn")
    admin._ddb.describe_time_to_live(TableName="t")
"""
    assert _actions(source) == {"dynamodb:DeleteBackup", "dynamodb:DescribeTimeToLive"}


def test_a_method_referenced_without_a_call_counts() -> None:
    assert _actions("METHODS = {'scan': client.scan}\n") == {"dynamodb:Scan"}


def test_paginators_and_waiters_are_the_operations_they_call() -> None:
    source = """
client.get_paginator("list_tables").paginate()
client.get_waiter("table_not_exists").wait(TableName="t")
"""
    sites = sites_in_source(source, "synthetic")
    assert [(site.operation, site.how) for site in sites] == [
        ("ListTables", "paginator"),
        ("DescribeTable", "waiter"),
    ]


@pytest.mark.parametrize(
    "source",
    ["client.get_paginator(name)\n", "client.get_waiter('no_such_waiter')\n", "client.get_paginator()\n"],
)
def test_a_paginator_or_waiter_not_named_by_a_known_literal_is_unresolved(source: str) -> None:
    with pytest.raises(Unresolved):
        sites_in_source(source, "synthetic")


def test_a_forwarder_of_its_own_parameter_names_nothing_its_callers_name_the_operation() -> None:
    """``regions.FailoverClient.pages`` hands on the name its callers give, and they are sites."""
    source = """
class Failover:
    def pages(self, operation, kwargs):
        return self.client.get_paginator(operation).paginate(**kwargs)

def load(failover):
    return failover.get_paginator("query")
"""
    assert [(site.operation, site.function) for site in sites_in_source(source, "synthetic")] == [
        ("Query", "load")
    ]
    with pytest.raises(Unresolved):  # a name from elsewhere is still no forwarder's
        sites_in_source("def pages(operation):\n    client.get_paginator(OPERATION)\n", "synthetic")


def test_an_operation_named_by_a_string_counts_wherever_it_stands() -> None:
    source = """
OPERATION = "DeleteTable"

async def read(caller):
    return await caller.call("BatchGetItem", {})
"""
    assert _actions(source) == {"dynamodb:BatchGetItem", "dynamodb:DeleteTable"}


def test_a_transaction_needs_the_actions_of_the_elements_it_is_built_from() -> None:
    source = """
def write(caller, update, check):
    request = {"TransactItems": [{"Update": update}, {"ConditionCheck": check}]}
    return caller.call("TransactWriteItems", request)
"""
    assert _actions(source) == {"dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"}


def test_element_keys_without_a_transaction_ask_for_nothing() -> None:
    assert _actions("LABELS = {'Delete': 1, 'Put': 2}\n") == frozenset()


def test_a_transaction_built_out_of_sight_is_unresolved() -> None:
    with pytest.raises(Unresolved):
        _actions("client.transact_write_items(TransactItems=items)\n")


def test_partiql_has_no_action_of_its_own_name() -> None:
    with pytest.raises(Unresolved):
        _actions("client.execute_statement(Statement='SELECT * FROM t')\n")


def test_look_alikes_are_not_calls() -> None:
    source = """
frame.get_items()
name = "get_item"
label = "GetItems"
"""
    assert sites_in_source(source, "synthetic") == []


def test_a_site_knows_its_module_enclosing_function_and_line(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("client.query()\n")
    (package / "sub" / "admin.py").write_text(
        "class Admin:\n    def drop(self):\n        self.c.delete_table()\n"
    )
    assert sites_in_package(package, "pkg") == [
        Site("Query", "method", "pkg.sub", "", 1),
        Site("DeleteTable", "method", "pkg.sub.admin", "Admin.drop", 3),
    ]
