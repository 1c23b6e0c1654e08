"""Copy a repo's rows from Feast's built-in DynamoDB store into this store (``feast-chalk-dynamo migrate``).

``repo`` checks the setup (with ``versions``: every version of a versioned
view is copied, each from its own table), ``keys`` rebuilds the entity keys
Feast only stored hashes of, ``scan`` reads Feast's tables in parallel
segments, ``copier`` writes pages through the store's guarded bulk path,
``state`` makes the copy resumable, ``sizing`` prices a dry run, ``verify``
compares reads through both stores, ``report`` prints; ``copying`` and
``dry_run`` are the two commands (on ``session``), and ``run`` picks one.
"""

from feast_chalk_dynamo.migrate.errors import MigrationError
from feast_chalk_dynamo.migrate.run import migrate
from feast_chalk_dynamo.migrate.session import Options

__all__ = ["MigrationError", "Options", "migrate"]
