"""The worker side: read, normalize, write and record a batch of articles; the stage
pool. Never imports Prefect."""
