"""The ledger: article records, the manifest and its journal, the run index, resume,
checkpoints, the run summary. Never imports Prefect."""
