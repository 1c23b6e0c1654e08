"""Example Feast repository served by the Chalk-style DynamoDB online store.

Being a package lets ``python -m feature_repo_example.demo`` run and lets the
integration tests reuse the definitions and data generator instead of copies.
"""
