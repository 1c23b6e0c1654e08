"""Everything one configured store holds: client, pool, names, reader, writer, admin.

Built once per store and configuration, because the client's connection
pool, the thread pool and the warmed name mapping are what make reads fast;
rebuilding them per call would pay their start-up on every request.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from feast_chalk_dynamo.client import make_client
from feast_chalk_dynamo.names import NameRegistry
from feast_chalk_dynamo.reader import Reader
from feast_chalk_dynamo.settings import DynamoSettings
from feast_chalk_dynamo.tables import TableAdmin, missing_table
from feast_chalk_dynamo.writer import Writer


class RequestCounter:
    """Counts DynamoDB calls by operation: what tests assert and metrics report."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, model: Any, **_: Any) -> None:
        with self._lock:
            self._counts[model.name] += 1

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)


class Engine:
    def __init__(self, settings: DynamoSettings) -> None:
        self.settings = settings
        self.client = make_client(settings)
        self.requests = RequestCounter()
        self.client.meta.events.register("before-call.dynamodb", self.requests)
        self.pool = ThreadPoolExecutor(settings.client_threads, thread_name_prefix="dynamodb-client")
        self.names = NameRegistry(self.client, settings.table_name)
        self.reader = Reader(self.client, settings, self.pool)
        self.writer = Writer(self.client, settings, self.pool)
        self.admin = TableAdmin(self.client, settings, self.pool)
        self._warm = False
        self._warm_lock = threading.Lock()

    def warm(self) -> None:
        """Load the name mapping once, if configured to, before the first read or write."""
        if self._warm:
            return
        with self._warm_lock:
            if not self._warm:
                if self.settings.warmup_fqn_mapping:
                    try:
                        self.names.warm_up()
                    except ClientError as error:
                        if error.response["Error"]["Code"] == "ResourceNotFoundException":
                            raise missing_table(self.settings.table_name) from None
                        raise
                self._warm = True

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.client.close()
