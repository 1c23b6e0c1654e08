"""Requests to DynamoDB: transports, retries, racing, failover, metrics, table admin.

Knows DynamoDB and nothing of Feast or of how this store lays out its items.
"""
