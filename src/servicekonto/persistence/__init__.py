"""Adapters for the system of record (SQLAlchemy) and for ephemeral state (Redis or the database)."""
