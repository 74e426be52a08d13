"""Prefect flows: they compose the tasks in newsprep.tasks."""
