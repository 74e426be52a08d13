"""Wall time of an ad hoc `newsprep run` on the bundled sample, as a user types it.

Two set-ups, each with a throwaway PREFECT_HOME:
- `lasting`: `newsprep server start` first, then the runs (the README's easy path);
- `temporary`: no server running, so every run starts its own temporary one.
Each run is timed from the moment the command is started to its exit, in a fresh process,
with a fresh DEST. Usage:

    .venv/bin/python benchmarks/adhoc_start.py --runs 5 --json benchmarks/results/adhoc-start.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
NEWSPREP = str(BIN / "newsprep")
SAMPLE = Path(__file__).resolve().parents[1] / "newsprep" / "sample"


def timed_run(env: dict[str, str], dest: Path) -> float:
    started = time.monotonic()
    done = subprocess.run([NEWSPREP, "run", str(SAMPLE), str(dest)],
                          env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"newsprep run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def measure(setup: str, runs: int, work: Path) -> dict:
    home = work / f"prefect-home-{setup}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(home)
    if setup == "lasting":
        with socket.socket() as sock:  # a free port: a server on 4200 may be the user's
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        subprocess.run([NEWSPREP, "server", "start", "--port", str(port)], env=env, check=True,
                       capture_output=True)
    try:
        timed_run(env, work / "warm-up")  # a first run creates the database (temporary)
        seconds = [timed_run(env, work / f"{setup}-{i}") for i in range(runs)]
    finally:
        if setup == "lasting":
            subprocess.run([NEWSPREP, "server", "stop"], env=env, capture_output=True)
    return {"setup": setup, "runs": [round(s, 2) for s in seconds],
            "median_seconds": round(statistics.median(seconds), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--setups", default="lasting,temporary")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="newsprep-adhoc-"))
    try:
        results = [measure(setup, args.runs, work) for setup in args.setups.split(",")]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for row in results:
        print(f"{row['setup']:<10} median {row['median_seconds']:.2f} s  runs {row['runs']}")
    if args.json:
        report = {"command": "newsprep run newsprep/sample DEST", "cpus": os.cpu_count(),
                  "python": platform.python_version(), "load_before": os.getloadavg()[0],
                  "results": results}
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
