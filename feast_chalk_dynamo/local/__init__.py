"""What a read answers without DynamoDB: namespace caches, Bloom filters, their counters."""
