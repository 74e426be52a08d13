"""The datatrove peer of bench.py: JSONL reader -> FTFY formatter -> a sacremoses step
(the moses profile's: aggressive dash splits, no escaping, then lowercase, line by line)
-> JSONL writer, `LocalPipelineExecutor` with one task per input shard.

It runs in its own virtualenv with datatrove (not a newsprep dependency):

    python3 -m venv /tmp/dt && /tmp/dt/bin/pip install datatrove orjson sacremoses ftfy
    /tmp/dt/bin/python benchmarks/datatrove_peer.py IN_DIR OUT_DIR --workers 2
"""

from __future__ import annotations

import argparse
import json
import time

from datatrove.data import DocumentsPipeline
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.formatters import FTFYFormatter
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter


class MosesLowercase(PipelineStep):
    """sacremoses on each line of a document, then lowercase (the moses profile's step)."""

    name = "moses + lowercase"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from sacremoses import MosesTokenizer

        tokenizer = MosesTokenizer(lang="en")
        for document in data:
            lines = (
                tokenizer.tokenize(
                    line, aggressive_dash_splits=True, escape=False, return_str=True
                ).strip()
                for line in document.text.split("\n")
            )
            document.text = "\n".join(line.lower() for line in lines if line)
            yield document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    LocalPipelineExecutor(
        pipeline=[
            JsonlReader(args.input),
            FTFYFormatter(),
            MosesLowercase(),
            JsonlWriter(args.output, compression=None),
        ],
        tasks=args.workers,
        workers=args.workers,
        logging_dir=f"{args.output}/_logs",
    ).run()
    print(json.dumps({"seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
