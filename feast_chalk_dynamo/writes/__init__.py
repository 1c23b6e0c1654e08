"""The write path: rows encoded as guarded updates, sent one per row or in transactions.

``rows`` turns Feast rows into UpdateItem requests (pure), ``transactions``
cuts them into TransactWriteItems and reads their cancellation reasons
(pure), and ``writer`` picks the mode and sends them in parallel.
"""

from feast_chalk_dynamo.writes.rows import EntityRow, WriteLayout
from feast_chalk_dynamo.writes.writer import Writer, WriteStats

__all__ = ["EntityRow", "WriteLayout", "WriteStats", "Writer"]
