"""``python -m feast_chalk_dynamo.cli``: the ``feast-chalk-dynamo`` script, where none is on PATH."""

import sys

from feast_chalk_dynamo.cli import main

sys.exit(main())
