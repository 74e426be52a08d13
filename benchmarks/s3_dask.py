"""A run over S3 (a moto server) on a local Dask cluster: the CPU of the process that runs
the flow at two corpus sizes, per article at the margin (issue #22 item 5: the flow process
does no per-article work).

  .venv/bin/python benchmarks/s3_dask.py --small 2000 --large 8000 \
      --work-dir /dev/shm/newsprep-s3dask --json s3-dask.json

Starts `moto_server` (its own process, dummy credentials in the runs' environment) and a
Prefect server; builds bench.py's corpus of each size (100 articles a folder: a shard)
and uploads it to `s3://raw/cN/`; then `newsprep run s3://raw/cN s3://clean/outN
--runner dask --workers W --tokenizer-engine fast` (a full run), and the same again
(nothing changed). The CLI process's own CPU (bench.py's `root_cpu_seconds`; a local
Dask cluster's scheduler and workers are its descendants) at the large size minus at the
small one, over the difference in articles: that process's CPU per article.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench
from coordinator import marginal, sample_run

ENV = {
    "AWS_ACCESS_KEY_ID": "testing-key-id",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL_S3",
         "FSSPEC_S3")


def start_moto(log: Path) -> tuple[subprocess.Popen, str]:
    port = bench.free_port()
    proc = subprocess.Popen(
        [str(bench.VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True,  # noqa: SIM115
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                return proc, endpoint
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"moto_server did not start; see {log}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--small", type=int, default=2000)
    p.add_argument("--large", type=int, default=8000)
    p.add_argument("--seed", type=int, default=20260305)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--runner", default="dask")
    p.add_argument("--py-spy", help="then sample one more unchanged rerun with this py-spy")
    p.add_argument("--work-dir", help="corpora, logs, the server's home (default: temp)")
    p.add_argument("--json", dest="json_path")
    args = p.parse_args(argv)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="newsprep-s3dask-"))
    work.mkdir(parents=True, exist_ok=True)
    moto, endpoint = start_moto(work / "moto.log")
    for name in UNSET:
        os.environ.pop(name, None)
    os.environ.update(ENV, AWS_ENDPOINT_URL=endpoint)  # for s3fs here and the runs
    server = bench.PrefectServer(work / "prefect-home", work / "server.log")
    extra = ["--runner", args.runner, "--workers", str(args.workers),
             "--tokenizer-engine", "fast"]
    sizes = []
    try:
        import s3fs

        fs = s3fs.S3FileSystem()
        fs.mkdir("raw")
        fs.mkdir("clean")
        server.start()
        env = {**server.client_env(), **ENV, "AWS_ENDPOINT_URL": endpoint}
        for n in (args.small, args.large):
            local = work / f"c{n}"
            meta = bench.corpus_meta(local)
            if not meta or meta["articles"] != n or meta["seed"] != args.seed:
                shutil.rmtree(local, ignore_errors=True)
                bench.build_corpus(local, n, args.seed)
            started = time.perf_counter()
            fs.put(str(local) + "/", f"raw/c{n}/", recursive=True)
            fs.rm(f"raw/c{n}/{bench.CORPUS_META}")
            print(f"uploaded {n} articles in {time.perf_counter() - started:.1f} s", flush=True)
            row = {"articles": n}
            for kind in ("full", "rerun"):
                cmd = [str(bench.VENV_BIN / "newsprep"), "run", f"s3://raw/c{n}",
                       f"s3://clean/out{n}", *extra]
                r = bench.measure(cmd, env=env, server_pid=server.proc.pid,
                                  log=work / f"{kind}-{n}.log")
                if r["exit"] != 0:
                    raise SystemExit(f"run failed, see {work / f'{kind}-{n}.log'}")
                summary = json.loads(fs.cat_file(f"clean/out{n}/_run.json"))
                row[kind] = {
                    "wall": r["wall"], "seconds": summary["seconds"],
                    "root_cpu_seconds": r["root_cpu_seconds"],
                    "descendants_cpu_seconds": r["descendants_cpu_seconds"],
                    "counts": {k: v for k, v in summary["counts"].items() if v},
                    "command": " ".join(cmd[1:]),
                }
                print(f"{n:>7} {kind:<5} wall {r['wall']:.1f} s, flow process CPU "
                      f"{r['root_cpu_seconds']:.2f} s, its descendants "
                      f"{r['descendants_cpu_seconds']:.1f} s {row[kind]['counts']}", flush=True)
            sizes.append(row)
        if args.py_spy:
            text = sample_run(cmd, env, work, args.py_spy)
            (work / "rerun-samples.txt").write_text(text)
            print(text)
    finally:
        server.stop()
        os.killpg(os.getpgid(moto.pid), 15)
        moto.wait()
    result = {
        "machine": bench.machine(), "command": " ".join(sys.argv), "sizes": sizes,
        "marginal_ms_per_article": marginal(sizes),
    }
    for kind, value in result["marginal_ms_per_article"].items():
        print(f"flow process CPU per article on S3 ({args.runner}), {kind}: {value:.4f} ms")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
