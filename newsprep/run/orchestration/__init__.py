"""The Prefect adapters: the tasks, the executor that maps them, the report and its
artifacts. The only modules of the run layer that import Prefect."""
