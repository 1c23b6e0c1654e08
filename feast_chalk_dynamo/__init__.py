"""A Feast online store on one compact DynamoDB table, after Chalk's design.

Use it from feature_store.yaml as ``type: feast_chalk_dynamo.ChalkDynamoOnlineStore``.
"""

# Before any of our modules makes a metric: Feast's turns prometheus_client's multiprocess mode on
# (dynamo/metrics.py says why that matters). Importing any module of the package runs this first.
import feast.metrics  # noqa: F401, I001

from feast_chalk_dynamo.store import ChalkDynamoOnlineStore, ChalkDynamoOnlineStoreConfig

__all__ = ["ChalkDynamoOnlineStore", "ChalkDynamoOnlineStoreConfig"]
