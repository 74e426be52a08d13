"""The run layer: `engine/` (worker side), `ledger/` (records and what DEST keeps of
them), `orchestration/` (the Prefect adapters), and at this level the session that plans
and accounts for a run, with the DEST lock, locations, progress and the retry policy."""
