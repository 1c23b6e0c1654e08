"""Precomputed feature services (``FeatureService(precompute_online=True)``), served by the ordinary read.

Feast 0.67 answers such a service from one ``PrecomputedFeatureVector`` blob
per entity, stored under a synthetic view ``__precomputed__<service>``. It
writes those blobs only for Redis (``precompute_feature_service`` finds
entities by scanning Redis keys and skips every other store with a warning),
so on this store, as on Feast's own DynamoDB and sqlite stores, the service
finds no blobs and every read raises. Its read of the blobs also turns any
exception, a throttle included, into "no vector".

On this layout the ordinary read of a service already fetches one item per
entity for all its views, which is what a vector buys elsewhere. Measured
(``benchmarks/precomputed_cost.py``, figures in the README), a vector costs
as many read units or more on the example and benchmark data and returns
about as many bytes, and writes cost more. So the store answers these
services by the ordinary read: the same values, statuses and per-view event
timestamps as the same service without ``precompute_online``, and errors
raised as errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from feast.feature_service import FeatureService
from feast.infra.online_stores.online_store import OnlineStore
from feast.infra.registry.base_registry import BaseRegistry
from feast.online_response import OnlineResponse
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import RepeatedValue
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig

from feast_chalk_dynamo.errors import PrecomputedVectorsNotStored

Features = list[str] | FeatureService
EntityRows = list[dict[str, Any]] | Mapping[str, Sequence[Any] | Sequence[ValueProto] | RepeatedValue]


def read_as_ordinary(features: Features) -> Features:
    """``features``, or for a precomputed service the same service with ``precompute_online`` off.

    A copy: the object is the registry's cached service, shared by every
    reader (and by ``precompute_feature_service``, which must still see the flag).
    """
    if not isinstance(features, FeatureService) or not features.precompute_online:
        return features
    return ServedOrdinarily.of(features)


class ServedOrdinarily(FeatureService):
    """A service with ``precompute_online`` off that still equals the registry's service it copies.

    Feast compares the service it is handed with the registry's and warns
    ("inconsistent with the version from the registry") when they differ.
    Here they differ in the flag alone, on purpose: so equality ignores it.
    Feast's check is ``registry_service != handed``, and Python asks a
    subclass on the right first, so this ``__eq__`` decides.
    """

    @classmethod
    def of(cls, service: FeatureService) -> ServedOrdinarily:
        served = cls.__new__(cls)
        served.__dict__.update(vars(service))
        served.precompute_online = False
        return served

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureService) and super().__eq__(ServedOrdinarily.of(other))

    __hash__ = FeatureService.__hash__


class OrdinaryReadOfPrecomputedServices(OnlineStore):
    """Hands Feast's generic read path every precomputed service as an ordinary one."""

    def write_precomputed_vector(
        self,
        config: RepoConfig,
        feature_service_name: str,
        project: str,
        entity_key: EntityKeyProto,
        vector_bytes: bytes,
    ) -> None:
        """Refused: no read here would use the vector, and Feast's generic write would put it on the
        entity item under a view no apply removes, costing read units on every read of the entity.

        Feast 0.67 never calls this for this store (it finds entities only in
        Redis); a later Feast that does logs the error and goes on.
        """
        raise PrecomputedVectorsNotStored(
            f"feature service {feature_service_name!r}: this store answers precompute_online services "
            "by its ordinary read (one item per entity already), so vectors are not stored"
        )

    def get_online_features(
        self,
        config: RepoConfig,
        features: Features,
        entity_rows: EntityRows,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool = False,
        include_feature_view_version_metadata: bool = False,
    ) -> OnlineResponse:
        return super().get_online_features(
            config, read_as_ordinary(features), entity_rows, registry, project,
            full_feature_names, include_feature_view_version_metadata,
        )  # fmt: skip

    async def get_online_features_async(
        self,
        config: RepoConfig,
        features: Features,
        entity_rows: EntityRows,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool = False,
        include_feature_view_version_metadata: bool = False,
    ) -> OnlineResponse:
        return await super().get_online_features_async(
            config, read_as_ordinary(features), entity_rows, registry, project,
            full_feature_names, include_feature_view_version_metadata,
        )  # fmt: skip
