"""The stages, one module each, as plain functions; `batch.py` wraps them for Prefect."""
