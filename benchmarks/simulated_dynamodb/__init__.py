"""A SIMULATED DynamoDB endpoint for benchmarks: data writes and reads answered here, after a delay.

Why: a benchmark against dynalite or moto measures them, not the client: they answer in their own
time, on one thread, with neither DynamoDB's latency nor its concurrency. Real DynamoDB answers a
write in some 5-10 ms and a read in single-digit milliseconds from EC2 in the same region, and
serves any number at once. So this server stands in for DynamoDB: each data write is answered
after ``delay_ms`` (8 ms by default), each read after a latency drawn for it (``--read-latency``,
default lognormal with p50 4 ms and p99 15 ms: ``latency``, which quotes its sources), every
request waiting concurrently with all others, without limit. What a client then achieves is
bounded by its own work and concurrency, as it would be against the real service.

It is a simulation, and says so (this docstring, the banner it prints at start):

* Writes answered here, after the delay: ``UpdateItem``, ``TransactWriteItems`` and
  ``BatchWriteItem``, unless a key in the request has partition key ``pk`` = ``"~meta"``. Nothing
  is stored except each item's attribute sizes, and nothing written here can be read back.
  Errors in such a request are answered after the delay too. **Conditions are not evaluated**:
  ``ConditionExpression`` and ``ConditionCheck`` always succeed. ``ReturnValues`` is ignored (the
  answer is ``{}``; ``BatchWriteItem`` answers no ``UnprocessedItems``). ``ReturnConsumedCapacity``
  is answered with the units counted below. No limit of DynamoDB's is checked (item size, 25 a
  batch, expression syntax beyond what counting needs): the strict proxy of the tests sees only
  forwarded requests. Update expressions other than SET of a value or of ``if_not_exists``,
  REMOVE and ADD on top-level attributes get a ``SimulatorUnsupportedException``: loud, rather
  than counted wrong.
* Reads answered here, after their latency: ``GetItem`` and ``BatchGetItem`` of the tables a
  ``snapshot`` copied from the backend (a consistent Scan, once they are loaded), from that copy,
  unless a key is of ``~meta``; see ``reads`` for what is modelled (projections,
  ``ConsistentRead``, ``ReturnConsumedCapacity``, ``UnprocessedKeys`` only when asked with
  ``leave_unprocessed``) and what is refused loudly. Any write to a copied table is refused
  (``SimulatorUnsupportedException``): the copy would go stale without a sign.
* Forwarded, unchanged and without delay, to a real backend (dynalite or moto, by URL): every
  other operation (CreateTable, DescribeTable, Query, Scan, reads of tables not copied, ...) and
  every request of the store's name registry (partition ``~meta``), so that tables and the
  registry's conditional writes keep their real semantics. The backend's status and body come
  back as they are.
* Counted by DynamoDB's rules: per item (table and key), the size of each attribute (UTF-8 name
  plus value, ``tests.dynamodb_limits``), so that an update is billed on the larger of the item's
  size before and after: ``max(1, ceil(size / 1 KB))`` write units, twice that in a transaction;
  a read ``ceil(size / 4 KB)`` units (1 for a missing item), half that if eventually consistent.

The key attributes of a table come from its ``KeySchema``: remembered from forwarded CreateTable
and DescribeTable answers, else asked once with a DescribeTable. A write to a table the backend
does not know is forwarded whole, so the backend answers ResourceNotFoundException.

Run it in its own process (``SimulatedDynamo`` does), so its CPU is not charged to the client:
``python -m benchmarks.simulated_dynamodb --backend URL --delay-ms 8 --read-latency
lognormal:p50=4,p99=15 --port 0`` binds 127.0.0.1 only and prints ``listening
http://127.0.0.1:PORT`` once ready. ``SimulatedDynamo.stats``, ``reset``, ``set_delay``,
``set_read_latency``, ``snapshot`` and ``leave_unprocessed`` reach it through private
``X-Amz-Target: Simulator.*`` requests. One process answers some 20,000 UpdateItems a second or
more on one core; in a BatchWriteItem, each item costs about 10 us.

The modules: ``wire`` (HTTP/1.1 framing), ``server`` (routing, the delays, forwarding through
``backend``, the control requests, the server loop), ``writes`` (the DynamoDB semantics of the
writes answered here, with ``update_expressions`` and ``sizes``; no HTTP), ``reads`` (those of the
reads, from the copies), ``latency`` (the reads' distribution), ``process`` (the subprocess and
the benchmark's handle on it).
"""

from benchmarks.simulated_dynamodb.latency import DEFAULT_READ_LATENCY
from benchmarks.simulated_dynamodb.process import SimStats, SimulatedDynamo
from benchmarks.simulated_dynamodb.server import DEFAULT_DELAY_MS

__all__ = ["DEFAULT_DELAY_MS", "DEFAULT_READ_LATENCY", "SimStats", "SimulatedDynamo"]
