"""Read-latency benchmarks: this store against Feast's built-in DynamoDB store, on dynalite.

Run with ``make bench``. The output is ratios against baselines measured in
the same run, because absolute timings on a shared machine mean little.
"""
