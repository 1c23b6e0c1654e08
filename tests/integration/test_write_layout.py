"""A write's layout: every feature under its own id, however many of the view's ids were allocated before."""

from __future__ import annotations

from feast import Field
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.types import Int64, String

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from tests.feast_objects import driver_view
from tests.integration.test_store import NOW, applied, key


def test_features_new_to_the_mapping_get_their_own_ids_wherever_they_stand_in_the_schema(
    store: ChalkDynamoOnlineStore, config: RepoConfig
) -> None:
    """A write of a view with features the mapping has no id for yet (here two, before and among the known
    ones) allocates them. The ids came back known ones first, and were handed out in schema order, so
    ``first`` was written under ``f0``'s id, and so on down the schema."""
    applied(store, config, driver_view("v"))
    wider = driver_view("v")
    wider.features = [Field(name="first", dtype=Int64), *wider.features[:2], Field(name="mid", dtype=String)]
    wider.features += driver_view("v").features[2:]
    values = {
        "first": ValueProto(int64_val=7),
        "f0": ValueProto(double_val=1.5),
        "f1": ValueProto(double_val=-2.5),
        "mid": ValueProto(string_val="m"),
        "rate": ValueProto(float_val=0.25),
    }
    store.online_write_batch(config, wider, [(key(1), values, NOW, None)], None)

    ((stamp, read),) = store.online_read(config, wider, [key(1)], list(values))

    assert stamp == NOW and read == values
