"""The pure text stages, one module each: str in, str (or a small dataclass) out."""
