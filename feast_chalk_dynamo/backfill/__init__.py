"""Set the buckets of windowed views from their batch sources (``feast-chalk-dynamo backfill``).

Feast computes no aggregation of a stream feature view without a Spark, Ray
or Flink engine, so ``feast materialize`` cannot fill these views' buckets;
this does, from the raw events the view's batch source holds. ``plan``
checks the setup and picks each view's buckets (whole, closed before the run
started), ``source`` reads a view's events through the repo's offline store
as Feast reads a source to materialize it, ``run`` sets the buckets, a page
of buckets' time at a time, through the store (``set_buckets``) and reports.

It sits beside ``migrate``, above the store: it knows Feast's registry and
offline store, which ``aggregates`` must not (``tests/unit/test_layers.py``).
"""

from feast_chalk_dynamo.backfill.errors import BackfillError
from feast_chalk_dynamo.backfill.plan import Options
from feast_chalk_dynamo.backfill.run import backfill

__all__ = ["BackfillError", "Options", "backfill"]
