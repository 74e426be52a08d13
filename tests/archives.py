"""Archives and .story texts for the tests (deterministic bytes)."""

from __future__ import annotations

import io
import random
import tarfile

_WORDS = [
    "council", "budget", "harbour", "ferry", "election", "minister", "court", "river",
    "drought", "vaccine", "clinic", "festival", "museum", "tariff", "railway", "strike",
    "union", "coast", "glacier", "satellite", "orchard", "grain", "auction", "lighthouse",
    "bridge", "tunnel", "senator", "mayor", "protest", "verdict",
]


def story_text(seed: int, paragraphs: int = 6) -> str:
    """A .story of varied sentences (deterministic; about as compressible as prose)."""
    rng = random.Random(seed)
    rows = []
    for p in range(paragraphs):
        words = [rng.choice(_WORDS) + rng.choice(("", "s", "ed", "'s")) for _ in range(40)]
        rows.append(f"Paragraph {p} of story {seed}, {rng.randint(1, 99_999)}: "
                    + " ".join(words) + ".")
    body = "\n\n".join(rows)
    highlights = f"@highlight\n\nStory {seed} in one line\n\n@highlight\n\nSecond point {seed}\n"
    return f"{body}\n\n{highlights}"


def build_tar(members: list[tuple[str, bytes]], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
