"""What one precomputed feature vector costs on this store, against the ordinary read of its service.

``python -m benchmarks.precomputed_cost`` loads the example repo (its
``driver_ranking`` service) and the mixed benchmark data set (services of all
five views and of two of them; and an entity three times as wide, 15 views,
whose item passes 4 KB, read two views at a time) into this store on moto's
server. Then,
per entity, it builds the ``PrecomputedFeatureVector`` exactly as
``FeatureStore.precompute_feature_service`` would (Feast 0.67, which never
does so for this store: it finds entities only in Redis), writes it with
Feast's own ``write_precomputed_vector`` (the synthetic view
``__precomputed__<service>``, through this store's write, so onto the entity
item), and sizes four layouts by DynamoDB's rules:

- *ordinary*: the entity item as the service's ordinary read finds it;
- *on entity item*: the same item with the vector on it, as Feast's generic path leaves it;
- *own item, blob*: one item per entity and service holding the vector;
- *own item, native*: one item per entity and service holding the service's
  attributes as the entity item holds them: the least any layout of its own stores.

Read units are per 4 KB of the whole item read (a projection does not lower
them), half for eventually consistent reads; write units per 1 KB of the
whole item, an update billed on the larger of before and after. Response
bytes are the item as BatchGetItem returns it with the read's projection, in
compact JSON (binary values in base64). Nothing is kept on disk.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from statistics import mean
from typing import Any

from feast import FeatureService, FeatureStore, FeatureView, utils
from feast.infra.online_stores.online_store import OnlineStore
from feast.protos.feast.core.PrecomputedFeatureVector_pb2 import (
    FeatureViewTimestamp,
    PrecomputedFeatureVector,
)
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from google.protobuf.timestamp_pb2 import Timestamp

from benchmarks import dataset, feature_stores
from benchmarks.floor import RawBatchGet, view_projection
from benchmarks.read_bench import log
from feast_chalk_dynamo.items.layout import encode_entity_key
from feast_chalk_dynamo.items.names import project_name
from feast_chalk_dynamo.planning.capacity import read_units, write_units
from feature_repo_example import config, data_gen
from feature_repo_example.features import build_objects
from tests.dynamodb_limits import item_size
from tests.servers import start_moto

PRECOMPUTED_PREFIX = "__precomputed__"  # Feast's synthetic view: OnlineStore.write_precomputed_vector
MIXED_ENTITIES = 50
SEED = 20240601
BATCH_KEYS = 100  # BatchGetItem's limit


@dataclass(frozen=True)
class Service:
    """A service to cost, the store holding its data, and the entities to cost it on."""

    label: str
    store: FeatureStore
    service: FeatureService
    driver_ids: list[int]


@dataclass(frozen=True)
class Cost:
    """One layout's cost for one entity.

    ``item``: the bytes of the item the read reads (its read units follow);
    ``response``: what the read returns; ``wcu``: the write units one write
    of one of the service's views costs with the layout kept current
    (per-row guarded writes, 1x).
    """

    blob: int
    item: int
    response: int
    wcu: int

    @property
    def rcu(self) -> float:
        return read_units(self.item)


def service_views(store: FeatureStore, service: FeatureService) -> list[tuple[FeatureView, Any]]:
    """The service's views and projections, looked up as ``precompute_feature_service`` does."""
    views = []
    for proj in service.feature_view_projections:
        view = store.registry.get_any_feature_view(proj.name, store.project, allow_cache=True)
        assert isinstance(view, FeatureView)  # so does Feast
        views.append((view, proj))
    return views


def feast_vectors(store: FeatureStore, service: FeatureService, keys: list[EntityKeyProto]) -> list[bytes]:
    """Each entity's serialized vector, built as feast/feature_store.py builds it (0.67, ~3276-3326).

    Read per view through the online store's ``online_read``; names
    ``<view>__<feature>`` per entity; a missing value an empty Value; a
    timestamp per view that has a row; ``precomputed_at`` now.
    """
    views = service_views(store, service)
    online_store = feature_stores.online_store(store)
    rows = {
        proj.name_to_use(): online_store.online_read(
            config=store.config,
            table=view,
            entity_keys=keys,
            requested_features=[f.name for f in proj.features],
        )
        for view, proj in views
    }
    names = [f"{proj.name_to_use()}__{f.name}" for _, proj in views for f in proj.features]
    vectors = []
    for index in range(len(keys)):
        values: list[ValueProto] = []
        stamps: list[FeatureViewTimestamp] = []
        for _, proj in views:
            view_name = proj.name_to_use()
            event_ts, features = rows[view_name][index]
            if event_ts:
                stamp = Timestamp()
                stamp.FromDatetime(utils.make_tzaware(event_ts))
                stamps.append(FeatureViewTimestamp(feature_view_name=view_name, event_timestamp=stamp))
            found = features or {}
            values += [found[f.name] if f.name in found else ValueProto() for f in proj.features]
        now = Timestamp()
        now.FromDatetime(datetime.now(tz=timezone.utc))
        vector = PrecomputedFeatureVector(
            feature_names=names, values=values, fv_timestamps=stamps, precomputed_at=now
        )
        vectors.append(vector.SerializeToString())
    return vectors


def fetch(store: FeatureStore, views: Sequence[str] | None, pks: list[str]) -> dict[str, dict[str, Any]]:
    """Entity items by pk as BatchGetItem answers them: projected on ``views``' attributes, or whole."""
    settings = store.config.online_store
    url, region, table = settings.endpoint_url, settings.region, settings.table_name
    projection = view_projection(url, region, table, store.project, views) if views is not None else {}
    read = RawBatchGet(url, region, table, projection)
    items: dict[str, dict[str, Any]] = {}
    try:
        for start in range(0, len(pks), BATCH_KEYS):
            for item in read(pks[start : start + BATCH_KEYS])["Responses"].get(table, []):
                items[item["pk"]["S"]] = item
    finally:
        read.close()
    return items


def wire(item: dict[str, Any]) -> int:
    return len(json.dumps(item, separators=(",", ":")))


def costs(case: Service) -> dict[str, list[Cost]]:
    """Each layout's cost for every entity of ``case``."""
    store, service = case.store, case.service
    online_store = feature_stores.online_store(store)
    engine = online_store.engine(store.config)
    project_id = engine.names.lookup(project_name(store.project))
    assert project_id is not None, "the project was never written"
    keys = [dataset.entity_key(d) for d in case.driver_ids]
    pks = [encode_entity_key(project_id, key) for key in keys]
    view_names = [proj.name for proj in service.feature_view_projections]

    whole_before = fetch(store, None, pks)
    projected = fetch(store, view_names, pks)
    vectors = feast_vectors(store, service, keys)
    for key, blob in zip(keys, vectors, strict=True):
        # Feast's generic write of a vector, which this store refuses (PrecomputedVectorsNotStored):
        # what it would cost is the measurement.
        generic_write = OnlineStore.write_precomputed_vector
        generic_write(online_store, store.config, service.name, store.project, key, blob)
    synthetic = PRECOMPUTED_PREFIX + service.name
    whole_after = fetch(store, None, pks)
    vector_read = fetch(store, [synthetic], pks)
    vector_attrs = [name for name in vector_read[pks[0]] if name != "pk"]

    result: dict[str, list[Cost]] = {name: [] for name in LAYOUTS}
    for pk, blob in zip(pks, vectors, strict=True):
        own_key = {"pk": {"S": pk}, "sk": {"S": "~" + synthetic}}
        own_blob = {**own_key, **{name: vector_read[pk][name] for name in vector_attrs}}
        own_native = {**own_key, **{k: v for k, v in projected[pk].items() if k != "pk"}}
        entity, with_vector = item_size(whole_before[pk]), item_size(whole_after[pk])
        own_blob_size, own_native_size = item_size(own_blob), item_size(own_native)
        view_write = write_units(entity)
        result["ordinary"].append(Cost(0, entity, wire(projected[pk]), view_write))
        # The view's row and then the vector, both on the item that holds the vector.
        result["on entity item"].append(
            Cost(len(blob), with_vector, wire(vector_read[pk]), 2 * write_units(with_vector))
        )
        result["own item, blob"].append(
            Cost(len(blob), own_blob_size, wire(own_blob), view_write + write_units(own_blob_size))
        )
        result["own item, native"].append(
            Cost(0, own_native_size, wire(own_native), view_write + write_units(own_native_size))
        )
    return result


LAYOUTS = ("ordinary", "on entity item", "own item, blob", "own item, native")
HEADER = ("layout", "blob B", "item B", "resp B", "RCU/read", "WCU/write", "resp/ord", "RCU/ord", "WCU/ord")


def table(label: str, entities: int, result: dict[str, list[Cost]]) -> str:
    """Means per entity; the ratios are each layout's over the ordinary read's."""
    ordinary = result["ordinary"]
    base = [mean(c.response for c in ordinary), mean(c.rcu for c in ordinary), mean(c.wcu for c in ordinary)]
    lines = [f"{label} ({entities} entities; means per entity)", _row(HEADER)]
    for name in LAYOUTS:
        cells = result[name]
        blob, item = mean(c.blob for c in cells), mean(c.item for c in cells)
        measured = [mean(c.response for c in cells), mean(c.rcu for c in cells), mean(c.wcu for c in cells)]
        ratios = [
            f"{value / ordinary_value:.2f}" for value, ordinary_value in zip(measured, base, strict=True)
        ]
        response, rcu, wcu = measured
        lines.append(
            _row((name, f"{blob:.0f}", f"{item:.0f}", f"{response:.0f}", f"{rcu:.2f}", f"{wcu:.2f}", *ratios))
        )
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return f"{cells[0]:<18}" + "".join(f"{c:>10}" for c in cells[1:])


def example_case(tmp: Path, endpoint_url: str) -> Service:
    """The example repo, materialized, and its ``driver_ranking`` service."""
    source = data_gen.generate(tmp / "data", now=datetime.now(timezone.utc))
    variables = config.variables(registry=tmp / "example.db", endpoint_url=endpoint_url, table_name="example")
    store = config.feature_store(variables)
    objects = build_objects(source.data_dir)
    store.apply(objects.all())
    start = source.now - max(v.ttl for v in objects.feature_views() if v.ttl)
    store.materialize(start, source.now, objects.materialized())
    label = "example repo: driver_ranking, its 2 views"
    return Service(label, store, objects.driver_ranking, list(source.driver_ids))


def mixed_case(tmp: Path, endpoint_url: str, copies: int, n_views: int) -> Service:
    """``copies`` x 5 mixed views on one item per driver, and a service of the first ``n_views``.

    Each copy of the mixed data set is five more views of the same drivers
    (own view names, own random rows), so the entity item grows past 4 KB
    with three. Each case has its own table: no other service's vector sits
    on its items.
    """
    name = f"mixed_{n_views}_of_{copies * dataset.MIXED.n_views}"
    # The first copy is the mixed data set itself, view names included (they are in every vector).
    data_sets = [dataset.MIXED] + [
        dataclasses.replace(dataset.MIXED, name=f"mixed{copy}", view_prefix=f"m{copy}_")
        for copy in range(1, copies)
    ]
    data_dir = tmp / name
    data_dir.mkdir()
    store = FeatureStore(
        config=feature_stores.our_config(data_dir / "registry.db", endpoint_url, table_name=name)
    )
    driver, views = dataset.definitions(data_sets, data_dir)
    service = FeatureService(name=name, features=[*views[:n_views]])
    store.apply([driver, *views, service])
    ids, now = dataset.MIXED.driver_ids(MIXED_ENTITIES), dataset.utc_now()
    for copy, data in enumerate(data_sets):
        data.write_sources(data_dir, ids, SEED + copy, now)
        feature_stores.load({"ours": store}, data, data_dir, log)
    label = f"mixed: {n_views} of the entity's {len(views)} views x {len(dataset.MIXED.features)} features"
    return Service(label, store, service, ids)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.parse_args(argv)
    feature_stores.use_fake_aws_credentials()
    server = start_moto()
    try:
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir)
            url = server.endpoint.url
            cases = [
                example_case(tmp, url),
                mixed_case(tmp, url, copies=1, n_views=5),  # the benchmarks' entity, read whole
                mixed_case(tmp, url, copies=1, n_views=2),
                mixed_case(tmp, url, copies=3, n_views=2),  # a wide entity, read in part
            ]
            for case in cases:
                log("")
                log(table(case.label, len(case.driver_ids), costs(case)))
            for case in cases:
                feature_stores.close(case.store)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
