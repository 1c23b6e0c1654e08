"""Windowed aggregations kept as buckets: declared with Feast, updated by pushes, merged by reads."""
