"""Reading sources (one reader per input format) and writing under DEST (the sinks)."""
