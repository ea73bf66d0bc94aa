"""Persistence: the database (jobs, assets, users) and the blob store (file bytes)."""
