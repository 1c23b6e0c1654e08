"""The read path: batching, projections, decoding, filling Feast's response."""
