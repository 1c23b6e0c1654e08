"""A Feast online store on one compact DynamoDB table, after Chalk's design.

Use it from feature_store.yaml as ``type: feast_chalk_dynamo.ChalkDynamoOnlineStore``.
"""

from feast_chalk_dynamo.store import ChalkDynamoOnlineStore, ChalkDynamoOnlineStoreConfig

__all__ = ["ChalkDynamoOnlineStore", "ChalkDynamoOnlineStoreConfig"]
