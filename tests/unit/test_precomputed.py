"""How a precomputed service is handed to Feast's read path: a copy, flag off, equal to the original."""

from __future__ import annotations

import pytest
from feast import FeatureService
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto

from feast_chalk_dynamo import ChalkDynamoOnlineStore
from feast_chalk_dynamo.errors import PrecomputedVectorsNotStored
from feast_chalk_dynamo.precomputed import read_as_ordinary
from tests.feast_objects import driver_view

VIEW = driver_view("stats")


def service(precompute_online: bool, description: str = "") -> FeatureService:
    return FeatureService(
        name="ranking", features=[VIEW], precompute_online=precompute_online, description=description
    )


def test_a_precomputed_service_is_copied_with_the_flag_off_and_the_original_kept() -> None:
    original = service(precompute_online=True)
    served = read_as_ordinary(original)
    assert isinstance(served, FeatureService) and served is not original
    assert not served.precompute_online
    assert original.precompute_online
    assert served.feature_view_projections == original.feature_view_projections


def test_the_copy_equals_its_original_either_way_round_and_nothing_else() -> None:
    """Feast warns when ``registry_service != handed``; only the flag may differ unnoticed."""
    original = service(precompute_online=True)
    served = read_as_ordinary(original)
    assert (original != served) is False  # Feast's own check
    assert original == served and served == original and hash(served) == hash(original)
    assert served != service(precompute_online=True, description="another")
    assert service(precompute_online=True, description="another") != served


def test_anything_else_is_handed_on_as_it_is() -> None:
    ordinary = service(precompute_online=False)
    refs = ["stats:f0"]
    assert read_as_ordinary(ordinary) is ordinary
    assert read_as_ordinary(refs) is refs


def test_writing_a_vector_is_refused_before_any_request() -> None:
    """A vector nobody reads would sit on the entity item and cost read units on every read."""
    store = ChalkDynamoOnlineStore()
    with pytest.raises(PrecomputedVectorsNotStored, match="ordinary read"):
        store.write_precomputed_vector(None, "ranking", "proj", EntityKeyProto(), b"blob")  # type: ignore[arg-type]
