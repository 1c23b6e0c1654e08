"""Which DynamoDB operations a body of Python source calls, and the IAM actions they need.

The Terraform's IAM policies must grant exactly what the store calls, and
keep doing so as the code changes. Reading the calls off the source (``ast``,
nothing imported or run) means a new call shows up here, and so in the policy
test, the moment it is written. The store reaches DynamoDB in these ways,
each a kind of site:

- ``method``: a boto3 client (or resource) method, ``client.get_item(...)``,
  or a reference to one (``self.client.batch_get_item``), on any receiver:
  the attribute's name is what counts, matched against botocore's own list
  of DynamoDB operations, so no naming convention for clients is assumed
  (an unrelated attribute of the same name, a URL's ``.query``, would count
  too: that can only ask the policy for more, and the policy test says where);
- ``paginator`` and ``waiter``: ``get_paginator("query")`` is the operation
  it pages; ``get_waiter("table_exists")`` is the operation botocore's waiter
  model says it polls (DescribeTable);
- ``name``: a string that is exactly an operation's name (``"BatchGetItem"``),
  as the signed raw-HTTP path sends it in ``X-Amz-Target``. Any such string
  counts, wherever it stands: a constant handed on later must not escape, and
  a name that only labels an error costs nothing when that operation is
  called anyway (it always is, here);
- ``element``: a ``"Update"`` (``"Put"``, ...) key of a dict literal, the
  element of a transaction, which IAM authorizes as the single-item
  operation it performs.

A paginator or waiter named by anything but a literal cannot be resolved, and
neither can an operation with no IAM action of its own name (PartiQL): both
raise ``Unresolved`` rather than guess. One exception: a *forwarder*, a
function handing its own parameter on (``def pages(self, operation): ...
client.get_paginator(operation)``), names nothing itself; its callers name
the operation, and they are sites. The same holds for the failover client's
``getattr(client, name)`` (``regions.FailoverClient``), which only forwards
methods its callers call by name. Names built any other way at run time are
beyond any reading of the source; the store has none.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import botocore
import botocore.session
from botocore.waiter import WaiterModel

# TransactWriteItems and TransactGetItems have no IAM action: each element of a
# transaction is authorized as the single-item operation it performs
# (DynamoDB developer guide, "Using IAM with DynamoDB transactions").
TRANSACTION_ELEMENTS = {
    "TransactWriteItems": {
        "Put": "PutItem",
        "Update": "UpdateItem",
        "Delete": "DeleteItem",
        "ConditionCheck": "ConditionCheckItem",
    },
    "TransactGetItems": {"Get": "GetItem"},
}
# PartiQL operations are authorized by PartiQL* actions that depend on the statement.
NO_ACTION_OF_THEIR_NAME = frozenset({"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"})


class Unresolved(Exception):
    """A call whose operation, or whose IAM action, cannot be read off the source."""


@dataclass(frozen=True)
class Site:
    """One place in the source that makes DynamoDB perform ``operation``.

    ``how`` is the kind of site (see the module's docstring); for an
    ``element``, ``operation`` is the single-item operation it performs.
    ``function`` is the enclosing function's qualified name (``Class.method``),
    ``""`` at module level.
    """

    operation: str
    how: str
    module: str
    function: str
    line: int


@functools.cache
def _service_model() -> tuple[dict[str, str], frozenset[str], dict[str, str]]:
    """botocore's DynamoDB operations by method name, their names, and each waiter's operation."""
    session = botocore.session.get_session()
    model = session.get_service_model("dynamodb")
    methods = {botocore.xform_name(name): name for name in model.operation_names}
    waiters = WaiterModel(session.get_component("data_loader").load_service_model("dynamodb", "waiters-2"))
    polled = {botocore.xform_name(name): waiters.get_waiter(name).operation for name in waiters.waiter_names}
    return methods, frozenset(model.operation_names), polled


def sites_in_source(source: str, module: str) -> list[Site]:
    """Every site in one module's source, in source order."""
    visitor = _Visitor(module)
    visitor.visit(ast.parse(source))
    return sorted(visitor.sites, key=lambda site: (site.line, site.operation))


def sites_in_package(root: Path, package: str) -> list[Site]:
    """Every site in every module under ``root`` (the directory of ``package``), subpackages included."""
    found: list[Site] = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        module = ".".join((package, *parts[: -1 if parts[-1] == "__init__" else None]))
        found.extend(sites_in_source(path.read_text(encoding="utf-8"), module))
    return found


def iam_actions(sites: Iterable[Site]) -> frozenset[str]:
    """The IAM actions (``dynamodb:GetItem``, ...) that let every site's operation through.

    A transaction needs the actions of the elements the code builds; elements
    count only when a transaction is called, so a dict key ``"Delete"``
    elsewhere asks for nothing.
    """
    sites = list(sites)
    operations = {site.operation for site in sites if site.how != "element"}
    actions: set[str] = set()
    for operation in sorted(operations):
        if operation in NO_ACTION_OF_THEIR_NAME:
            raise Unresolved(f"{operation} is authorized per statement (PartiQL*); no action can be derived")
        if operation in TRANSACTION_ELEMENTS:
            kinds = set(TRANSACTION_ELEMENTS[operation].values())
            elements = {site.operation for site in sites if site.how == "element" and site.operation in kinds}
            if not elements:
                raise Unresolved(f"{operation} is called, but no element of a transaction is built in sight")
            actions.update(elements)
        else:
            actions.add(operation)
    return frozenset(f"dynamodb:{action}" for action in actions)


class _Visitor(ast.NodeVisitor):
    def __init__(self, module: str) -> None:
        self._module = module
        self._scope: list[str] = []
        self._parameters: list[set[str]] = []  # of each enclosing function
        self.sites: list[Site] = []
        self._methods, self._operations, self._waiters = _service_model()
        self._elements = {kind: op for table in TRANSACTION_ELEMENTS.values() for kind, op in table.items()}

    def _add(self, operation: str, how: str, node: ast.expr) -> None:
        self.sites.append(Site(operation, how, self._module, ".".join(self._scope), node.lineno))

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self._scope.append(node.name)
        arguments = node.args if not isinstance(node, ast.ClassDef) else None
        names = (
            {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
            if arguments
            else set()
        )
        self._parameters.append(names)
        self.generic_visit(node)
        self._parameters.pop()
        self._scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in self._methods:
            self._add(self._methods[node.attr], "method", node)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        paged_or_polled = isinstance(node.func, ast.Attribute) and node.func.attr in (
            "get_paginator",
            "get_waiter",
        )
        if paged_or_polled and not self._forwarded(node):
            assert isinstance(node.func, ast.Attribute)
            self._add(*self._paged_or_polled(node.func.attr, node), node)
        self.generic_visit(node)

    def _forwarded(self, node: ast.Call) -> bool:
        """The name is a parameter of an enclosing function (a closure's too): its callers name it."""
        argument = node.args[0] if node.args else None
        return isinstance(argument, ast.Name) and any(argument.id in names for names in self._parameters)

    def _paged_or_polled(self, kind: str, node: ast.Call) -> tuple[str, str]:
        argument = node.args[0] if node.args else None
        name = argument.value if isinstance(argument, ast.Constant) else None
        table = self._methods if kind == "get_paginator" else self._waiters
        if not isinstance(name, str) or name not in table:
            raise Unresolved(
                f"{self._module} line {node.lineno}: {kind}({ast.unparse(argument) if argument else ''}) "
                "names no DynamoDB paginator or waiter by a literal"
            )
        return table[name], kind.removeprefix("get_")

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node.value in self._operations:
            self._add(node.value, "name", node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key in node.keys:
            if isinstance(key, ast.Constant) and key.value in self._elements:
                self._add(self._elements[key.value], "element", key)
        self.generic_visit(node)
