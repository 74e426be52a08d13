"""The run: records, index, manifest, resume, the executor and its pool, the summary."""
