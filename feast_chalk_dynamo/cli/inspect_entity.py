"""``feast-chalk-dynamo inspect``: one entity's stored item, decoded with names an operator knows.

The item is found as the store finds it (the project's id, the entity key
encoded by ``layout``) and read consistently. Each attribute is resolved
through the name mapping (``names``): a view's timestamp and values map by
its namespace id, a feature by its id, whose mapping name also says its
view, its name and its dtype, by which the value is decoded. So it shows
what is stored, including rows of versions and views the registry no longer
has; an attribute no live mapping names is listed raw.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from feast import FeatureStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.type_map import feast_value_type_to_python_type, python_values_to_proto_values
from feast.value_type import ValueType

from feast_chalk_dynamo.cli.shared import (
    CliError,
    add_repo_argument,
    check_table,
    online_views,
    table_client,
    talking_to,
    where,
)
from feast_chalk_dynamo.errors import EntityKeyTooLarge, UnsupportedEntityType
from feast_chalk_dynamo.items.codec import CodecError, decode_feature, item_size, value_field_for
from feast_chalk_dynamo.items.layout import (
    ENTITY_SK,
    EXPIRY_ATTR,
    PK,
    SK,
    describe_entity,
    encode_entity_key,
    ts_attr,
    values_attr,
)
from feast_chalk_dynamo.items.names import (
    NameRegistry,
    NamespaceInfo,
    name_component,
    project_features_prefix,
    project_name,
    unversioned_view_name,
)
from feast_chalk_dynamo.items.slots import micros_to_datetime
from feast_chalk_dynamo.planning import capacity
from feast_chalk_dynamo.repos import load_store

Item = dict[str, Any]

# How the text of --entity KEY=VALUE becomes a value of the key's declared type.
_PARSERS: dict[ValueType, Callable[[str], Any]] = {
    ValueType.INT64: int,
    ValueType.INT32: int,
    ValueType.UNIX_TIMESTAMP: int,
    ValueType.STRING: str,
    ValueType.BYTES: str.encode,
    ValueType.UUID: str,
    ValueType.TIME_UUID: str,
    ValueType.BOOL: lambda text: {"true": True, "1": True, "false": False, "0": False}[text.lower()],
}
_ESCAPED = re.compile("%(25|2F)")


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "inspect",
        help="decode the stored item of one entity",
        description=(
            "Read one entity's item (consistently) and print each view's row by name: its observed-at "
            "time (UTC) and each feature's decoded value, with the attribute ids they are stored under; "
            "attributes no mapping names are listed raw. Exit status 0; 1 when the entity has no item; "
            "2 for a wrong repo or entity, or a table that is missing or does not answer."
        ),
    )
    add_repo_argument(parser)
    parser.add_argument(
        "--entity",
        action="append",
        required=True,
        metavar="KEY=VALUE",
        help="a join key and its value, typed by the entity's declared value type (repeat for each join "
        "key of the item: driver_id=1001; bytes as UTF-8 text, bools as true/false)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    store, settings = load_store(args.repo.resolve())
    key = entity_key(store, args.entity)
    project, table = store.project, settings.table_name
    client = table_client(settings)
    try:
        with talking_to(settings):
            check_table(client, settings)
            names = NameRegistry(client, table)
            project_id = names.lookup(project_name(project))
            if project_id is None:
                raise CliError(f"table {table!r} at {where(settings)} holds nothing of project {project!r}: "
                               "run `feast apply` (and materialize) first")  # fmt: skip
            try:
                pk = encode_entity_key(project_id, key)
            except (UnsupportedEntityType, EntityKeyTooLarge) as error:
                raise CliError(str(error)) from error
            found = client.get_item(
                TableName=table, Key={PK: {"S": pk}, SK: {"S": ENTITY_SK}}, ConsistentRead=True
            )
            item: Item | None = found.get("Item")
            if item is None:
                print(f"no item for {describe_entity(pk)} in table {table!r} (pk {pk!r}, sk {ENTITY_SK!r})")
                return 1
            views = _views(
                store,
                names.live_namespaces(project),
                names.names_with_prefix(project_features_prefix(project)),
            )
    finally:
        client.close()
    size = item_size(item)
    reading = "strongly" if settings.consistent_reads else "eventually"
    print(f"table {table!r} ({where(settings)}), project {project!r} (id {project_id})")
    print(f"item pk {pk!r}, sk {ENTITY_SK!r}")
    print(
        f"{size:,} B: {capacity.read_units(size, settings.consistent_reads):g} RCU to read ({reading} "
        f"consistent), {capacity.write_units(size)} WCU per view written"
    )
    print("\n".join(describe_item(item, views)))
    return 0


def entity_key(store: FeatureStore, given: list[str]) -> EntityKeyProto:
    """The entity key of ``KEY=VALUE`` texts, each value of its entity's declared value type.

    The keys given must be the whole key of an item: the join keys of the
    views that share it. A part of a composite key would name an item no
    write makes, and read as "no item" (Feast's reads refuse it too).
    """
    declared = {entity.join_key: entity.value_type for entity in store.list_entities()}
    if not declared:
        raise CliError(f"the project {store.project!r} has no entities: run `feast apply` first")
    items = _item_keys(store)
    pairs = {}
    for text in given:
        name, equals, value = text.partition("=")
        if not equals or not name:
            raise CliError(f"--entity takes KEY=VALUE, not {text!r}")
        if name not in declared:
            raise CliError(
                f"{name!r} is no join key of the entities of project {store.project!r}: {_keyed(items)}"
            )
        if name in pairs:
            raise CliError(f"--entity gives join key {name!r} twice")
        value_type = declared[name]
        parse = _PARSERS.get(value_type)
        if parse is None:
            raise CliError(f"join key {name!r} is declared {value_type.name}, which no entity key can be")
        try:
            pairs[name] = python_values_to_proto_values([parse(value)], value_type)[0]
        except (ValueError, KeyError) as error:
            raise CliError(f"join key {name!r} is {value_type.name}: {value!r} is not one") from error
    if items and tuple(sorted(pairs)) not in items:
        raise CliError(f"--entity gives {', '.join(pairs)}, which keys no item: {_keyed(items)}")
    return EntityKeyProto(join_keys=list(pairs), entity_values=list(pairs.values()))


def _item_keys(store: FeatureStore) -> dict[tuple[str, ...], list[str]]:
    """The keys of the project's entity items (each the sorted join keys of the views sharing it), each
    with those views."""
    items: dict[tuple[str, ...], list[str]] = {}
    for view in online_views(store):
        keys = tuple(sorted(column.name for column in getattr(view, "entity_columns", [])))
        if keys:  # an entityless view's rows are under Feast's dummy key, which no --entity names
            items.setdefault(keys, []).append(view.name)
    return items


def _keyed(items: dict[tuple[str, ...], list[str]]) -> str:
    """What to give instead: every join key of one item."""
    if not items:
        return "the project has no online view keyed by them"
    kinds = " or ".join(
        f"{', '.join(keys)} (view{'s' if len(views) > 1 else ''} {', '.join(views)})"
        for keys, views in sorted(items.items())
    )
    return f"an item is keyed by {kinds}; give each join key of one, --entity KEY=VALUE for each"


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str
    attr: str


@dataclass(frozen=True)
class View:
    """A live namespace of the project: its name, id and features as the mapping has them."""

    name: str
    id: str
    features: list[Feature]


def _views(store: FeatureStore, namespaces: dict[str, NamespaceInfo], features: dict[str, str]) -> list[View]:
    """Each live namespace with its features, as the mapping names them
    (``fqn/<project>/<view>/<feature>/<dtype>``), in the registry's order where it still has the view."""
    prefix = project_features_prefix(store.project)
    defined = {view.name: [field.name for field in view.features] for view in online_views(store)}
    views = []
    for namespace, info in sorted(namespaces.items()):
        schema = defined.get(unversioned_view_name(namespace), [])
        own = name_component(namespace) + "/"
        found = []
        for name, attr in features.items():
            rest = name[len(prefix) :]
            if rest.startswith(own):
                feature, dtype = rest[len(own) :].split("/")
                found.append(Feature(_name(feature, schema), _unescape(dtype), attr))
        order = {name: n for n, name in enumerate(schema)}
        found.sort(key=lambda f: (order.get(f.name, len(order)), f.name))
        views.append(View(namespace, info.id, found))
    return views


def _unescape(component: str) -> str:
    return _ESCAPED.sub(lambda match: "%" if match[1] == "25" else "/", component)


def _name(component: str, schema: list[str]) -> str:
    """A feature's name from its mapping component: unescaped, or, hashed when long, found in the schema."""
    if not component.startswith("%H"):
        return _unescape(component)
    return next((name for name in schema if name_component(name) == component), component)


def describe_item(item: Item, views: list[View]) -> list[str]:
    """Each view's row on the item (time and features), its expiry, and what nothing names."""
    lines = []
    claimed = {PK, SK}
    for view in views:
        stamp, packed = ts_attr(view.id), values_attr(view.id)
        claimed |= {stamp, packed, *(feature.attr for feature in view.features)}
        if stamp not in item:
            continue
        at = micros_to_datetime(int(item[stamp]["N"])).isoformat()
        form = f", its features in one map {packed}" if packed in item else ""
        lines.append(f"{view.name} ({stamp}{form}): observed at {at}")
        values = item[packed]["M"] if packed in item else item
        width = max((len(feature.name) for feature in view.features), default=0)
        for feature in view.features:
            shown = _value(feature, values.get(feature.attr))
            lines.append(f"  {feature.name.ljust(width)} ({feature.attr}) = {shown}")
    if EXPIRY_ATTR in item:
        claimed.add(EXPIRY_ATTR)
        expiry = datetime.fromtimestamp(int(item[EXPIRY_ATTR]["N"]), tz=timezone.utc)
        lines.append(f"expires ({EXPIRY_ATTR}, DynamoDB TTL) at {expiry.isoformat()}")
    unknown = sorted(set(item) - claimed)
    if unknown:
        lines.append("attributes no live mapping names:")
        lines += [f"  {name} = {json.dumps(item[name], default=_bytes_text)}" for name in unknown]
    return lines


def _value(feature: Feature, stored: dict[str, Any] | None) -> str:
    """``null`` for a feature written as null; a feature the row never had is said so (reads: NOT_FOUND)."""
    if stored is None:
        return "(not written)"
    try:
        value = feast_value_type_to_python_type(
            decode_feature(feature.name, stored, value_field_for(ValueType[feature.dtype]))
        )
    except (CodecError, KeyError) as error:
        return f"{json.dumps(stored, default=_bytes_text)} (not decodable as {feature.dtype}: {error})"
    if value is None:
        return "null"
    return value.isoformat() if isinstance(value, datetime) else repr(value)


def _bytes_text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON")
