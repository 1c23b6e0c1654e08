"""``python -m benchmarks.simulated_dynamodb``: the simulated DynamoDB server (see ``server.main``)."""

from benchmarks.simulated_dynamodb.server import main

main()
