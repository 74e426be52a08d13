"""newsprep throughput benchmark: `newsprep run` against a plain multiprocessing pool.

One invocation, one corpus, every method on the same files:

  corpus      N deterministic .txt articles (~2.3 KB) built from newsprep/sample/ (minus
              broken/) and tests/golden/cnn-xinjiang.raw.txt by a seeded paragraph
              shuffle, 100 files per folder.
  stages      single process, per-stage time of the pure chain on the first articles.
  loop        single process: read bytes -> normalize_text(default) -> write_atomic.
  pool        multiprocessing.Pool(workers) (fork), same work per file; the baseline.
  pool+pa     the same pool calling newsprep's process_article(ref, job) (adds fsspec
              per article, sha256, the record) - newsprep minus Prefect.
  newsprep    `newsprep run CORPUS OUT` as a subprocess, reporting to a Prefect server the
              benchmark starts (throwaway PREFECT_HOME); default settings, then every
              --batch-sizes value and --runners choice.
  newsprep-fixed  the same on a 2-article corpus: the run's fixed cost.
  sacremoses  `sacremoses -q -l en -j W tokenize` over the corpus's non-empty lines
              (tokenizer only: no ftfy, no per-article I/O; note 0.2.0's CLI always
              XML-escapes, see README).

Every method runs in its own child process. Measured per method:
  seconds     the method's own timed section (after interpreter start and imports; for
              newsprep the run's _run.json "seconds", from its session's start, which the
              command begins while it imports Prefect (newsprep/run/early.py), so most of
              the command's start is in it; sacremoses has none, so its wall time)
  wall        wall time of the child process, interpreter start included
  CPU s       user+sys of the child and its waited-for descendants (os.wait4 rusage)
  peak RSS    sum of VmRSS over the child's process tree, sampled from /proc every 0.1 s
              (also PSS, which does not double count fork-shared pages)
  max proc    ru_maxrss from os.wait4: the largest single process of the tree
For newsprep runs, the Prefect server's CPU seconds during the run are reported too.

  .venv/bin/python benchmarks/bench.py --articles 20000 --workers 2 --json bench.json
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SAMPLE = REPO / "newsprep" / "sample"
GOLDEN = REPO / "tests" / "golden" / "cnn-xinjiang.raw.txt"
FILES_PER_FOLDER = 100
CORPUS_META = ".bench-corpus.json"
CORPUS_VERSION = 1
MB = 1024 * 1024
RETRIES = [0]  # re-runs of a method that other processes disturbed (--retries)
REPEAT = [1]  # measurements of each method; the median is kept (--repeat)
QUIET_WAIT = [0.0]  # seconds to wait for a quiet machine before each method (--quiet-wait)
SPLIT_TEXT: list[Path | None] = [None]  # --split-text: where the processes note their CPU


# --------------------------------------------------------------------------- corpus


def _source_articles() -> list[list[str]]:
    """Paragraphs of every source article (UTF-8 text, one paragraph per line)."""
    paths = sorted(p for p in SAMPLE.rglob("*.txt") if "broken" not in p.relative_to(SAMPLE).parts)
    if GOLDEN.exists():
        paths.append(GOLDEN)
    articles = []
    for path in paths:
        text = path.read_bytes().decode("utf-8").replace("\r\n", "\n")
        paragraphs = [line for line in text.split("\n") if line.strip()]
        if paragraphs:
            articles.append(paragraphs)
    return articles


def build_corpus(root: Path, articles: int, seed: int, mean_bytes: int = 2300) -> dict:
    """N articles: a dateline paragraph from one source article, then body paragraphs
    drawn from all of them until the article reaches a target size (~N(2300, 350) bytes).
    About 1 in 25 articles is written with CRLF line endings (as one sample file is)."""
    rng = random.Random(seed)
    sources = _source_articles()
    leads = [a[0] for a in sources]
    body = [p for a in sources for p in a[1:]]
    root.mkdir(parents=True, exist_ok=True)
    total = 0
    for index in range(articles):
        target = max(900, min(4500, int(rng.gauss(mean_bytes, 350))))
        paragraphs = [rng.choice(leads)]
        size = len(paragraphs[0].encode())
        while size < target:
            paragraph = rng.choice(body)
            paragraphs.append(paragraph)
            size += len(paragraph.encode()) + 1
        newline = "\r\n" if rng.random() < 0.04 else "\n"
        total += _write_article(root, index, (newline.join(paragraphs) + newline).encode())
    meta = {"sources": len(sources), "paragraph_pool": len(body)}
    return _save_meta(root, articles, seed, total, meta)


def _write_article(root: Path, index: int, data: bytes) -> int:
    """Article `index` of a corpus, FILES_PER_FOLDER to a folder; its size."""
    folder = root / f"f{index // FILES_PER_FOLDER:05d}"
    if index % FILES_PER_FOLDER == 0:
        folder.mkdir(exist_ok=True)
    (folder / f"a{index:07d}.txt").write_bytes(data)
    return len(data)


def _save_meta(root: Path, articles: int, seed: int, total: int, more: dict) -> dict:
    meta = {"version": CORPUS_VERSION, "articles": articles, "seed": seed, "bytes": total}
    meta.update(more)
    (root / CORPUS_META).write_text(json.dumps(meta))
    return meta


NEWS_COMMENTARY = "scripts/ems/example/data/nc-5k.en"  # in moses-smt/mosesdecoder
SHIPPED_NEWS = Path(__file__).parent / "data" / "nc-5k.en"  # the same file: data/README.md


def news_lines(source: str) -> list[str]:
    """The non-empty lines of a news text file, or of nc-5k.en in a mosesdecoder git dir."""
    if Path(source, "HEAD").exists():  # a (bare) git dir: the file at HEAD
        data = subprocess.run(
            ["git", f"--git-dir={source}", "show", f"HEAD:{NEWS_COMMENTARY}"],
            capture_output=True,
            check=True,
        ).stdout
    else:
        data = Path(source).read_bytes()
    return [line for line in data.decode("utf-8").split("\n") if line.strip()]


def build_news_corpus(root: Path, source: str, articles: int, seed: int) -> dict:
    """N articles of real news: the source's lines in order, 10-20 consecutive lines (one
    paragraph a line) per article, the sizes drawn with a seeded RNG; once the lines run
    out they start again (the same articles again), so N can exceed one pass."""
    rng = random.Random(seed)
    lines = news_lines(source)
    root.mkdir(parents=True, exist_ok=True)
    total, start = 0, 0
    for index in range(articles):
        size = rng.randint(10, 20)
        if start + size > len(lines):
            start = 0
        text = "\n".join(lines[start : start + size]) + "\n"
        total += _write_article(root, index, text.encode())
        start += size
    meta = {"real_news": source, "source_lines": len(lines)}
    return _save_meta(root, articles, seed, total, meta)


def corpus_meta(root: Path) -> dict | None:
    try:
        return json.loads((root / CORPUS_META).read_text())
    except (OSError, ValueError):
        return None


def list_corpus(root: Path) -> list[str]:
    """Relative paths of the corpus's .txt files, sorted."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = os.path.relpath(folder, root)
        found += [n if rel == "." else f"{rel}/{n}" for n in names if n.endswith(".txt")]
    return sorted(found)


def write_lines_file(root: Path, rels: list[str], target: Path) -> int:
    """The corpus's non-empty lines, concatenated: the sacremoses CLI's input."""
    with open(target, "w", encoding="utf-8") as out:
        for rel in rels:
            text = (root / rel).read_bytes().decode("utf-8").replace("\r\n", "\n")
            out.writelines(line + "\n" for line in text.split("\n") if line.strip())
    return target.stat().st_size


# --------------------------------------------------------------------------- child methods

_W: dict = {}  # per-worker state of the pool methods


def _pipeline(engine: str, profile: str = "default"):
    from newsprep.config import resolve_pipeline

    return resolve_pipeline(profile, {"tokenize.engine": engine})


def _init_pool_worker(
    corpus: str, out: str, mode: str, engine: str = "sacremoses", profile: str = "default"
) -> None:
    from fsspec.implementations.local import LocalFileSystem

    pipeline = _pipeline(engine, profile)
    _W.update(corpus=corpus, out=out, fs=LocalFileSystem(), pipeline=pipeline)
    if mode == "process_article":
        from newsprep.run.engine.batch import Job

        _W["job"] = Job(source_root=corpus, dest_root=out, pipeline=_W["pipeline"])


def _one_article(rel: str) -> tuple[str, int]:
    """Exactly the work: read bytes, normalize_text (default profile), write_atomic."""
    from newsprep.errors import Rejected
    from newsprep.tasks.io.sinks import write_atomic
    from newsprep.tasks.stages.normalize import normalize_text

    with open(os.path.join(_W["corpus"], rel), "rb") as handle:
        raw = handle.read()
    try:
        result = normalize_text(raw, _W["pipeline"])
    except Rejected as exc:
        return f"rejected:{exc.reason}", len(raw)
    write_atomic(_W["fs"], os.path.join(_W["out"], rel), result.text.encode("utf-8"))
    return "ok", len(raw)


def _make_ref(rel: str):
    """An ArticleRef for a corpus file, whatever fields this newsprep version's ref has."""
    import dataclasses

    from newsprep.tasks.io.refs import ArticleRef

    path = os.path.join(_W["corpus"], rel)
    given = {"id": rel, "path": path, "source": "file://" + path}
    names = {f.name for f in dataclasses.fields(ArticleRef)}
    return ArticleRef(**{k: v for k, v in given.items() if k in names})


def _one_process_article(rel: str) -> tuple[str, int]:
    """newsprep's own per-article path (process_article), without Prefect."""
    from newsprep.run.engine import batch as article

    if hasattr(article, "process_batch"):  # newer newsprep: a sink per batch
        records = article.process_batch([_make_ref(rel)], 0, _W["job"])
        record = records[0]
    else:
        record = article.process_article(_make_ref(rel), _W["job"])
    status = record.status if record.status == "ok" else f"{record.status}:{record.reason}"
    return status, 0


def _tally(results) -> dict:
    counts: dict[str, int] = {}
    for status, _ in results:
        counts[status] = counts.get(status, 0) + 1
    return counts


def child_loop(args) -> dict:
    import newsprep.run.engine.batch  # noqa: F401 - imports outside the timed section

    started = time.perf_counter()
    rels = list_corpus(Path(args.corpus))
    _init_pool_worker(args.corpus, args.out, "normalize_text", args.engine, args.profile)
    counts = _tally(map(_one_article, rels))
    return {"seconds": time.perf_counter() - started, "articles": len(rels), "counts": counts}


def child_pool(args) -> dict:
    import multiprocessing

    import newsprep.run.engine.batch  # noqa: F401

    mode = "process_article" if args.child == "pool-pa" else "normalize_text"
    func = _one_process_article if mode == "process_article" else _one_article
    started = time.perf_counter()
    rels = list_corpus(Path(args.corpus))
    chunksize = args.chunksize or max(1, min(100, len(rels) // (args.workers * 16)))
    with multiprocessing.Pool(
        args.workers,
        initializer=_init_pool_worker,
        initargs=(args.corpus, args.out, mode, args.engine, args.profile),
    ) as pool:
        counts = _tally(pool.imap_unordered(func, rels, chunksize=chunksize))
    return {
        "seconds": time.perf_counter() - started,
        "articles": len(rels),
        "counts": counts,
        "chunksize": chunksize,
        "start_method": multiprocessing.get_start_method(),
    }


def child_stages(args) -> dict:
    """Per-stage cost of the pure chain (and the hash and the write), single process, with
    `--profile` and `--engine`. The guard and the mojibake check are timed a second time
    on their own (they also run inside tokenize and validate)."""
    from fsspec.implementations.local import LocalFileSystem

    from newsprep.errors import Rejected
    from newsprep.tasks.io.sinks import write_atomic
    from newsprep.tasks.stages import normalize
    from newsprep.tasks.stages.fast_tokenize import fast_differs
    from newsprep.tasks.stages.fetch import decode
    from newsprep.tasks.stages.layout import layout
    from newsprep.tasks.stages.lowercase import lowercase
    from newsprep.tasks.stages.tokenize import moses_tokenizer, tokenize
    from newsprep.tasks.stages.unicode_fix import fix_unicode
    from newsprep.tasks.stages.validate import has_mojibake, validate

    config, fs = _pipeline(args.engine, args.profile), LocalFileSystem()
    options = config.tokenize
    rels = list_corpus(Path(args.corpus))[: args.stage_articles]
    t0 = time.perf_counter()
    moses_tokenizer(options.lang, options.perl_language_rules)
    tokenize("warm up", options)
    fix_unicode("warm up", config.unicode_fix)
    warm = time.perf_counter() - t0
    names = ("read", "decode", "ftfy", "clean", "tokenize", "lowercase", "layout",
             "validate", "sha256", "write")
    spent = dict.fromkeys((*names, "guard (in tokenize)", "mojibake (in validate)"), 0.0)
    guarded = lines_seen = 0
    clock = time.perf_counter
    for rel in rels:
        t = clock()
        with open(os.path.join(args.corpus, rel), "rb") as handle:
            raw = handle.read()
        t1 = clock()
        spent["read"] += t1 - t
        decoded = decode(raw, config.fetch)
        t2 = clock()
        spent["decode"] += t2 - t1
        fixed = fix_unicode(decoded.text, config.unicode_fix)
        t3 = clock()
        spent["ftfy"] += t3 - t2
        body, _ = normalize._clean(fixed.text, config)
        t4 = clock()
        spent["clean"] += t4 - t3
        lines = tokenize(body, options)
        t5 = clock()
        spent["tokenize"] += t5 - t4
        if config.lowercase:
            lines = [lowercase(line, config.lowercase_final_sigma) for line in lines]
        t6 = clock()
        spent["lowercase"] += t6 - t5
        text = layout(lines, config.layout)
        t7 = clock()
        spent["layout"] += t7 - t6
        try:
            validate(text, body, config)
        except Rejected:
            continue
        t8 = clock()
        spent["validate"] += t8 - t7
        data = (text + "\n").encode("utf-8")
        hashlib.sha256(data).hexdigest()
        t9 = clock()
        spent["sha256"] += t9 - t8
        write_atomic(fs, os.path.join(args.out, rel), data)
        t10 = clock()
        spent["write"] += t10 - t9
        if options.engine == "fast":
            for line in body.split("\n"):
                if line.strip():
                    lines_seen += 1
                    guarded += fast_differs(line, options.lang)
        t11 = clock()
        spent["guard (in tokenize)"] += t11 - t10
        text.isascii() or has_mojibake(text)
        spent["mojibake (in validate)"] += clock() - t11
    n = max(1, len(rels))
    return {
        "articles": len(rels),
        "profile": args.profile,
        "engine": args.engine,
        "warm_up_ms": warm * 1000,
        "ms_per_article": {k: v * 1000 / n for k, v in spent.items()},
        "guarded_lines": [guarded, lines_seen],
        "seconds": sum(spent[k] for k in names),
    }


# functions of process_batch's per-article path whose cumulative time bookkeeping reports
BOOKKEEPING_PARTS = {
    "batch.py": ("process_batch", "_read", "_normalize", "_write", "__enter__", "__exit__"),
    "files.py": ("read_bytes",),
    "sinks.py": ("write_atomic", "_write_renamed"),
    "local.py": ("makedirs",),
    "checkpoint.py": ("note",),
    "records.py": ("start",),
    "uuid.py": ("uuid4",),
    "normalize.py": ("normalize_text",),
}
BOOKKEEPING_BUILTINS = (
    "<built-in method _signal.setitimer>",
    "<built-in method _hashlib.openssl_sha256>",
    "<built-in method posix.replace>",
)


def child_bookkeeping(args) -> dict:
    """newsprep's own per-article path in one process, `process_batch` in batches of 100
    (the record, the batch's checkpoint, three time limits, fsspec reads, the sink's temp
    file and rename) against the text work and a plain write of the same articles
    (`_one_article`), alternately `--repeat` times, each into a fresh folder (wall and
    CPU time); then cProfile's costliest functions of one more `process_batch` pass."""
    import cProfile
    import pstats

    from newsprep.run.engine.batch import Job, process_batch

    rels = list_corpus(Path(args.corpus))[: args.stage_articles]
    _init_pool_worker(str(args.corpus), args.out, "normalize_text", args.engine, args.profile)
    _one_article(rels[0])  # tokenizers built, regexes compiled

    def newsprep_path(out: str) -> None:
        job = Job(
            source_root=str(args.corpus),
            dest_root=out,
            pipeline=_W["pipeline"],
            checkpoint_dir=os.path.join(out, "_checkpoints"),
        )
        for start in range(0, len(rels), 100):
            _W["corpus"] = str(args.corpus)
            refs = [_make_ref(rel) for rel in rels[start : start + 100]]
            process_batch(refs, start // 100, job)

    times: dict[str, list[float]] = {"text work + write_atomic": [], "process_batch": []}
    cpu: dict[str, list[float]] = {k: [] for k in times}  # this process's CPU time
    for n in range(max(1, args.repeat)):
        _W["out"] = os.path.join(args.out, f"plain-{n}")
        started, cpu_started = time.perf_counter(), time.process_time()
        for rel in rels:
            _one_article(rel)
        times["text work + write_atomic"].append(time.perf_counter() - started)
        cpu["text work + write_atomic"].append(time.process_time() - cpu_started)
        started, cpu_started = time.perf_counter(), time.process_time()
        newsprep_path(os.path.join(args.out, f"batch-{n}"))
        times["process_batch"].append(time.perf_counter() - started)
        cpu["process_batch"].append(time.process_time() - cpu_started)
    profiler = cProfile.Profile()
    profiler.runcall(newsprep_path, os.path.join(args.out, "profiled"))
    stats = pstats.Stats(profiler)
    top = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:25]
    n = len(rels)
    parts = {}  # the per-article steps, cumulative time (callees included)
    for (file, line, name), (_, calls, _, cumulative, _) in stats.stats.items():
        if name in BOOKKEEPING_PARTS.get(Path(file).name, ()) or name in BOOKKEEPING_BUILTINS:
            key = f"{Path(file).name}:{name}" if file != "~" else name
            if key in parts:  # two classes' __enter__ in one file: told apart by line
                key = f"{Path(file).name}:{line}({name})"
            parts[key] = (round(cumulative * 1000 / n, 4), calls)
    return {
        "articles": n,
        "seconds": sum(map(sum, times.values())),
        "ms_per_article": {k: [round(v * 1000 / n, 3) for v in vs] for k, vs in times.items()},
        "cpu_ms_per_article": {k: [round(v * 1000 / n, 3) for v in vs] for k, vs in cpu.items()},
        "parts_ms_per_article": parts,
        "profile_ms_per_article": [
            (f"{Path(file).name}:{line}({name})", round(tt * 1000 / n, 4), calls)
            for (file, line, name), (calls, _, tt, _, _) in top
        ],
    }


def child_imports(args) -> dict:
    """Import cost of what a pool worker needs vs what a Prefect task worker needs."""
    t0 = time.perf_counter()
    __import__(args.module)
    return {"seconds": time.perf_counter() - t0, "module": args.module}


CHILDREN = {
    "loop": child_loop,
    "pool": child_pool,
    "pool-pa": child_pool,
    "stages": child_stages,
    "bookkeeping": child_bookkeeping,
    "imports": child_imports,
}


# --------------------------------------------------------------------------- measurement


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def process_tree(root: int) -> list[int]:
    kids, tree, todo = _children_map(), [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(kids.get(pid, ()))
    return tree


def _rss_pss_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
                    break
    except OSError:
        pass
    return rss, pss


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def system_busy_seconds() -> float:
    """CPU seconds all processes have used since boot (all cores), from /proc/stat."""
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(max_wait: float, threshold: float = 0.25) -> float:
    """Wait (up to max_wait s) until other processes use < threshold cores; returns the wait.

    Other people's test runs on a 2-core box distort every number; each method starts
    on a quiet machine when possible, and its "other CPU s" column says what ran beside it.
    """
    started = time.perf_counter()
    while True:
        before = system_busy_seconds()
        time.sleep(2)
        busy = (system_busy_seconds() - before) / 2
        waited = time.perf_counter() - started
        if busy < threshold or waited >= max_wait:
            if busy >= threshold:
                log(f"machine still busy ({busy:.2f} cores) after {waited:.0f}s; going ahead")
            return waited
        log(f"machine busy ({busy:.2f} cores by other processes); waiting")


class TreeSampler(threading.Thread):
    """Peak summed RSS/PSS and the most processes of a process tree, every `interval` s."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss_kb = self.peak_pss_kb = self.max_procs = 0
        self.cpu_by_pid: dict[int, float] = {}  # last seen user+sys per process of the tree
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            tree = process_tree(self.pid)
            rss = pss = 0
            for pid in tree:
                r, p = _rss_pss_kb(pid)
                rss, pss = rss + r, pss + p
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.max_procs = max(self.max_procs, len(tree))
            for pid in tree:
                seen = cpu_seconds([pid])
                if seen:
                    self.cpu_by_pid[pid] = seen
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def measure(
    cmd: list[str],
    env: dict | None = None,
    stdin=None,
    stdout=None,
    server_pid: int | None = None,
    log: Path | None = None,
) -> dict:
    """Run `cmd`, sampling its process tree; wall, CPU, memory and exit code."""
    # the previous method's written and deleted files must not be flushed during this one
    os.sync()
    waited = wait_for_quiet(QUIET_WAIT[0]) if QUIET_WAIT[0] > 0 else 0.0
    server_cpu0 = cpu_seconds(process_tree(server_pid)) if server_pid else 0.0
    busy0 = system_busy_seconds()
    stderr = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    split = None
    if SPLIT_TEXT[0] is not None:
        split = Path(tempfile.mkdtemp(dir=SPLIT_TEXT[0]))
        env = _split_env(env, split)
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, stdin=stdin, stdout=stdout or subprocess.DEVNULL, stderr=stderr
    )
    sampler = TreeSampler(proc.pid)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    busy = system_busy_seconds() - busy0
    sampler.stop()
    if log:
        stderr.close()
    result = {
        "wall": wall,
        "exit": proc.returncode,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "sys_cpu_seconds": usage.ru_stime,  # mostly file system work: creating the outputs
        "peak_rss_mb": sampler.peak_rss_kb / 1024,
        "peak_pss_mb": sampler.peak_pss_kb / 1024,
        "max_proc_rss_mb": usage.ru_maxrss / 1024,
        "max_procs": sampler.max_procs,
        # CPU of the root process (newsprep: the CLI + flow) vs its descendants (workers),
        # as last sampled; a lower bound (up to 0.1 s of each process's end is missed)
        "root_cpu_seconds": sampler.cpu_by_pid.get(proc.pid, 0.0),
        "descendants_cpu_seconds": sum(v for k, v in sampler.cpu_by_pid.items() if k != proc.pid),
    }
    if server_pid:
        result["server_cpu_seconds"] = cpu_seconds(process_tree(server_pid)) - server_cpu0
    # everything else the machine did meanwhile (other users, the sampler, the kernel)
    result["other_cpu_seconds"] = max(
        0.0, busy - result["cpu_seconds"] - result.get("server_cpu_seconds", 0.0)
    )
    result["quiet_wait_s"] = waited
    if split is not None:
        result["text_split"] = read_text_split(split)
    return result


def _split_env(env: dict | None, folder: Path) -> dict:
    """The command's environment with benchmarks/split_site/sitecustomize.py on its path."""
    env = dict(os.environ if env is None else env)
    site = str(Path(__file__).resolve().parent / "split_site")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (site, env.get("PYTHONPATH")) if p)
    env["NEWSPREP_BENCH_SPLIT"] = str(folder)
    return env


def read_text_split(folder: Path) -> dict:
    """The CPU of the processes that ran the text work: in it, and in all else they did
    (reading, writing, records, ledger; a pool's worker also its share of the pipe)."""
    processes, articles, text, cpu = 0, 0, 0.0, 0.0
    for note in folder.iterdir():
        if note.suffix == ".new":
            continue
        count, in_text, in_all = note.read_text().split()
        processes, articles = processes + 1, articles + int(count)
        text, cpu = text + float(in_text), cpu + float(in_all)
    return {"processes": processes, "articles": articles, "text_cpu": text, "cpu": cpu}


def _split_line(split: dict) -> str:
    per = 1e6 / split["articles"]
    return (
        f"{split['processes']} processes, {split['articles']} articles, text "
        f"{split['text_cpu']:.1f} CPU-s ({split['text_cpu'] * per / 1000:.2f} ms an article), "
        f"the rest {split['cpu'] - split['text_cpu']:.1f} CPU-s "
        f"({(split['cpu'] - split['text_cpu']) * per:.0f} us an article)"
    )


def noisy(result: dict) -> bool:
    """Did other processes use more than 10% of the machine while this method ran?"""
    return result["other_cpu_seconds"] > 0.10 * result["wall"] * (os.cpu_count() or 1)


def least_noisy(run, out: Path | None = None) -> dict:
    """Measure a method REPEAT times and keep the run with the median time; `repeats`
    lists every time. The file system's own cost (sys CPU) varies by +-30% between
    identical runs here, which is why one run is not enough."""
    results = sorted(
        (_least_noisy_once(run, out) for _ in range(REPEAT[0])),
        key=lambda r: r.get("seconds", r["wall"]),
    )
    median = results[len(results) // 2]
    median["repeats"] = [round(r.get("seconds", r["wall"]), 2) for r in results]
    return median


def _least_noisy_once(run, out: Path | None = None) -> dict:
    """Run a method; re-run it (up to RETRIES times) while other processes disturbed it,
    keeping the least disturbed result. `attempts` records how many runs it took."""
    best = None
    for attempt in range(1 + RETRIES[0]):
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)
        result = run()
        result["attempt"] = attempt + 1
        if best is None or result["other_cpu_seconds"] < best["other_cpu_seconds"]:
            best = result
        if not noisy(result):
            break
        log(
            f"disturbed run (other CPU {result['other_cpu_seconds']:.1f}s in "
            f"{result['wall']:.1f}s wall); retrying"
        )
    best["attempts"] = attempt + 1
    if best is not result and out is not None:
        log("kept an earlier, less disturbed attempt (its output was replaced; digest of last)")
    return best


def paired_runs(args, work: Path, newsprep_once, out: Path, engine: str) -> dict:
    """The pool and the default newsprep run alternately, `--paired` times each: on a
    machine whose speed drifts (other tenants, file system state), the ratio within a
    pair is steadier than between methods measured minutes apart."""
    pairs = []
    pool_out = work / "out-pool-paired"
    for n in range(args.paired):
        shutil.rmtree(pool_out, ignore_errors=True)
        pool = run_child("pool", args, pool_out, work, ["--engine", engine])
        shutil.rmtree(out, ignore_errors=True)
        newsprep = newsprep_once()
        pairs.append(
            {
                "pool_s": round(pool["seconds"], 2),
                "newsprep_s": round(newsprep["seconds"], 2),
                "ratio": round(pool["seconds"] / newsprep["seconds"], 3),
            }
        )
        log(f"pair {n + 1}: {pairs[-1]}")
    shutil.rmtree(pool_out, ignore_errors=True)
    ratios = sorted(p["ratio"] for p in pairs)
    return {"pairs": pairs, "median_ratio": ratios[len(ratios) // 2]}


def run_child(method: str, args, out: Path, work: Path, extra: list[str] = ()) -> dict:
    result_file = work / f"result-{method}-{time.monotonic_ns()}.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        method,
        "--corpus",
        str(args.corpus),
        "--out",
        str(out),
        "--workers",
        str(args.workers),
        "--result",
        str(result_file),
        "--stage-articles",
        str(args.stage_articles),
        "--profile",
        args.profile,
        *extra,
    ]
    if args.chunksize:
        cmd += ["--chunksize", str(args.chunksize)]
    log = work / f"{method}.stderr"
    measured = measure(cmd, log=log)
    if measured["exit"] != 0:
        raise SystemExit(
            f"{method} failed ({measured['exit']}), see {log}:\n" + log.read_text()[-3000:]
        )
    return {**measured, **json.loads(result_file.read_text())}


# --------------------------------------------------------------------------- prefect server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrefectServer:
    def __init__(self, home: Path, log: Path) -> None:
        self.home, self.log, self.port = home, log, free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(PREFECT_HOME=str(self.home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
        return env

    def start(self, timeout: float = 120) -> float:
        started = time.perf_counter()
        self.home.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                str(VENV_BIN / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self.env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"prefect server exited; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise SystemExit(f"prefect server not healthy after {timeout}s; see {self.log}")

    def client_env(self) -> dict:
        return {**self.env(), "PREFECT_API_URL": self.url}

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = os.getpgid(self.proc.pid)  # its own session: only what we started
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait()
        self._log.close()


def run_newsprep(
    corpus: Path, out: Path, server: PrefectServer, extra: list[str], log: Path
) -> dict:
    cmd = [str(VENV_BIN / "newsprep"), "run", str(corpus), str(out), *extra]
    measured = measure(cmd, env=server.client_env(), server_pid=server.proc.pid, log=log)
    summary_path = out / "_run.json"
    if measured["exit"] != 0 or not summary_path.exists():
        raise SystemExit(
            f"newsprep run failed ({measured['exit']}), see {log}:\n" + log.read_text()[-3000:]
        )
    summary = json.loads(summary_path.read_text())
    return {
        **measured,
        "seconds": summary["seconds"],
        "articles": summary["discovered"],
        "counts": {k: v for k, v in summary["counts"].items() if v},
        "batch_size": summary["batch_size"],
        "batches": summary["batches"],
        "workers": summary["workers"],
        "command": " ".join(cmd[1:]),
    }


# --------------------------------------------------------------------------- reporting


def digest_tree(root: Path) -> dict[str, str]:
    """sha256 of every output article (names starting with _ or . are not articles)."""
    found = {}
    for rel in list_corpus(root):
        if rel.startswith(("_", ".")):
            continue
        found[rel] = hashlib.sha256((root / rel).read_bytes()).hexdigest()
    return found


def machine() -> dict:
    model = "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as handle:
        mem_kb = int(handle.readline().split()[1])
    versions = {}
    for name in (
        "newsprep",
        "prefect",
        "ftfy",
        "sacremoses",
        "fsspec",
        "pydantic",
        "joblib",
        "regex",
    ):
        try:
            versions[name] = version(name)
        except Exception:
            versions[name] = "-"
    git = {}
    for key, cmd in (
        ("head", ["git", "rev-parse", "--short", "HEAD"]),
        ("diff_sha", ["git", "diff", "HEAD"]),
    ):
        try:
            text = subprocess.run(cmd, cwd=REPO, capture_output=True, check=True).stdout
            git[key] = (
                text.decode().strip()
                if key == "head"
                else hashlib.sha256(text).hexdigest()[:12]
                if text
                else "clean"
            )
        except (OSError, subprocess.CalledProcessError):
            git[key] = "-"
    return {
        "git": f"{git['head']} (working tree diff {git['diff_sha']})",
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "cpu": model,
        "mem_gb": round(mem_kb / MB, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
    }


def machine_line(m: dict) -> str:
    libs = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    return (
        f"{m['nproc']} CPUs ({m['affinity']} usable), {m['cpu']}, {m['mem_gb']} GB RAM, "
        f"Linux {m['kernel']}, Python {m['python']}; {libs}; repo {m['git']}"
    )


def table(rows: list[dict], baseline: dict | None) -> str:
    head = (
        "| method | articles | seconds | wall s | articles/s | MB/s | x pool (s) | "
        "x pool (wall) | CPU s (sys) | other CPU s | peak RSS MB | peak PSS MB | max proc MB | "
        "procs | runs (kept) | every run s |"
    )
    lines = [head, head_sep(head)]
    for row in rows:
        seconds, wall = row["seconds"], row["wall"]
        ratio = f"{seconds / baseline['seconds']:.2f}" if baseline else "-"
        ratio_wall = f"{wall / baseline['wall']:.2f}" if baseline else "-"
        cpu = f"{row['cpu_seconds']:.1f} ({row.get('sys_cpu_seconds', 0):.1f})"
        if row.get("server_cpu_seconds") is not None:
            cpu += f" (+{row['server_cpu_seconds']:.1f} server)"
        lines.append(
            f"| {row['method']} | {row['articles']} | {seconds:.2f} | {wall:.2f} | "
            f"{row['articles'] / seconds:.0f} | {row['bytes'] / MB / seconds:.2f} | {ratio} | "
            f"{ratio_wall} | {cpu} | {row['other_cpu_seconds']:.1f} | "
            f"{row['peak_rss_mb']:.0f} | {row['peak_pss_mb']:.0f} | "
            f"{row['max_proc_rss_mb']:.0f} | {row['max_procs']} | "
            f"{row.get('attempts', 1)} ({row.get('attempt', 1)}) | "
            f"{', '.join(map(str, row.get('repeats', [])))} |"
        )
    return "\n".join(lines)


def head_sep(head: str) -> str:
    return "|" + "---|" * (head.count("|") - 1)


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--articles", type=int, default=20000)
    p.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--corpus", help="reuse (or build into) this corpus folder")
    p.add_argument("--keep-corpus", metavar="DIR", help="build the corpus here and keep it")
    p.add_argument("--seed", type=int, default=20260305)
    p.add_argument(
        "--real-news",
        metavar="SRC",
        nargs="?",
        const=str(SHIPPED_NEWS),
        help="build the corpus from real news lines: a text file, or a mosesdecoder git "
        "dir (its scripts/ems/example/data/nc-5k.en); with no SRC, the copy of nc-5k.en "
        "in benchmarks/data/",
    )
    p.add_argument(
        "--profile",
        default="default",
        help="the newsprep profile of the pool, stages and newsprep run methods",
    )
    p.add_argument("--work-dir", help="outputs and logs (default: a temp dir, removed)")
    p.add_argument("--keep-outputs", action="store_true")
    p.add_argument("--batch-sizes", default="", help="extra newsprep runs, e.g. 100,250,500")
    p.add_argument(
        "--runners",
        "--runner",
        dest="runners",
        default="process",
        help="newsprep --runner choices to run, comma-separated: process,thread",
    )
    p.add_argument("--chunksize", type=int, default=0, help="pool chunksize (0: auto)")
    p.add_argument(
        "--methods",
        default="stages,loop,pool,pool-pa,newsprep,sacremoses",
        help="subset to run (comma-separated)",
    )
    p.add_argument(
        "--engines",
        default="sacremoses,fast",
        help="tokenizer engines to run the pool and newsprep run with (comma-separated)",
    )
    p.add_argument("--stage-articles", type=int, default=1000)
    p.add_argument(
        "--split-text",
        action="store_true",
        help="report the text work's CPU against the rest in the processes that run it "
        "(benchmarks/split_site/sitecustomize.py on the measured commands' path)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=120,
        help="before each method, wait up to this many s for other processes "
        "to use < 0.25 cores (0: don't)",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        help="re-run a method while other processes used >10%% of the machine",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each method this many times and keep the median (odd numbers)",
    )
    p.add_argument(
        "--paired",
        type=int,
        default=0,
        help="also run the pool and the default newsprep run alternately this many times "
        "and report the pool/newsprep time ratio of each pair",
    )
    p.add_argument(
        "--moses", help="a mosesdecoder checkout (its scripts/tokenizer), for --methods perl"
    )
    p.add_argument(
        "--datatrove-python",
        help="a python with datatrove, sacremoses and ftfy, for --methods datatrove",
    )
    p.add_argument("--json", dest="json_path", help="write all results as JSON here")
    p.add_argument(
        "--summarize",
        nargs="+",
        metavar="JSON",
        help="print medians over rounds: the --json files of runs made one after the other",
    )
    # internal: one method in a child process
    p.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--module", help=argparse.SUPPRESS)
    p.add_argument("--engine", default="sacremoses", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def summarize(paths: list[str]) -> str:
    """Rounds of the same benchmark (one --json each, run one after the other, so the
    methods alternate): per method, the median of `seconds` and of wall, and every round."""
    rounds = [json.loads(Path(path).read_text()) for path in paths]
    methods: dict[str, list[dict]] = {}
    for data in rounds:
        for row in data["rows"]:
            methods.setdefault(row["method"], []).append(row)
    head = "| method | rounds | median s | min-max s | median wall s | every round s | CPU s |"
    lines = [head, head_sep(head)]
    for name, rows in methods.items():
        seconds = sorted(r["seconds"] for r in rows)
        walls = sorted(r["wall"] for r in rows)
        cpu = sorted(r["cpu_seconds"] + (r.get("server_cpu_seconds") or 0) for r in rows)
        every = ", ".join(f"{r['seconds']:.2f}" for r in rows)
        lines.append(
            f"| {name} | {len(rows)} | {seconds[len(seconds) // 2]:.2f} | "
            f"{seconds[0]:.2f}-{seconds[-1]:.2f} | {walls[len(walls) // 2]:.2f} | "
            f"{every} | {cpu[len(cpu) // 2]:.1f} |"
        )
    return "\n".join(lines)


def compile_sources() -> None:
    """Write the project's bytecode before anything is timed. Python writes none under
    PYTHONDONTWRITEBYTECODE, so each measured command compiled every module edited since
    its last .pyc again: ~0.1-0.2 CPU-s of newsprep's command, little of the pool's."""
    import compileall

    for package in ("newsprep", "tasks", "flows"):
        compileall.compile_dir(REPO / package, quiet=1)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.summarize:
        print(summarize(args.summarize))
        return 0
    if args.child:
        result = CHILDREN[args.child](args)
        Path(args.result).write_text(json.dumps(result))
        return 0

    methods = set(args.methods.split(","))
    QUIET_WAIT[0] = args.quiet_wait
    if args.split_text:
        SPLIT_TEXT[0] = Path(tempfile.mkdtemp(prefix="newsprep-split-"))
        atexit.register(shutil.rmtree, SPLIT_TEXT[0], True)
    RETRIES[0] = args.retries
    REPEAT[0] = max(1, args.repeat)
    work = (
        Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="newsprep-bench-"))
    )
    work.mkdir(parents=True, exist_ok=True)
    corpus_dir = Path(args.corpus or args.keep_corpus or work / "corpus").resolve()
    temp_corpus = not (args.corpus or args.keep_corpus)
    args.corpus = corpus_dir
    compile_sources()
    m = machine()
    log(machine_line(m))

    meta = corpus_meta(corpus_dir)
    wanted = (args.articles, args.seed, args.real_news and str(args.real_news))
    if meta and (meta["articles"], meta["seed"], meta.get("real_news")) == wanted:
        log(f"reusing corpus {corpus_dir}")
    elif meta is None and corpus_dir.exists() and any(corpus_dir.iterdir()):
        meta = {
            "articles": len(list_corpus(corpus_dir)),
            "seed": None,
            "bytes": sum((corpus_dir / r).stat().st_size for r in list_corpus(corpus_dir)),
        }
        log(f"using foreign corpus {corpus_dir} as is: {meta['articles']} articles")
    else:
        if corpus_dir.exists():
            shutil.rmtree(corpus_dir)
        t0 = time.perf_counter()
        if args.real_news:
            meta = build_news_corpus(corpus_dir, args.real_news, args.articles, args.seed)
        else:
            meta = build_corpus(corpus_dir, args.articles, args.seed)
        log(
            f"built corpus {corpus_dir}: {meta['articles']} articles, "
            f"{meta['bytes'] / MB:.1f} MB in {time.perf_counter() - t0:.1f}s"
        )
    corpus_bytes = meta["bytes"]
    articles = meta["articles"]
    rows: list[dict] = []
    extras: dict = {
        "corpus": {**meta, "path": str(corpus_dir), "mean_bytes": corpus_bytes / max(1, articles)}
    }
    digests: dict[str, dict] = {}

    engines = [e for e in args.engines.split(",") if e]
    engine_of: dict[str, str] = {}  # method -> tokenizer engine, for the output check

    def add(
        name: str,
        result: dict,
        bytes_in: int = corpus_bytes,
        out: Path | None = None,
        engine: str = "sacremoses",
    ):
        row = {"method": name, "bytes": bytes_in, "engine": engine, **result}
        engine_of[name] = engine
        rows.append(row)
        log(
            f"{name}: {row['seconds']:.2f}s timed, {row['wall']:.2f}s wall, "
            f"{row['articles'] / row['seconds']:.0f} articles/s, "
            f"peak RSS {row['peak_rss_mb']:.0f} MB, counts {row.get('counts')}"
        )
        if out is not None:
            digests[name] = digest_tree(out)
            if not args.keep_outputs:
                shutil.rmtree(out, ignore_errors=True)

    def add_command(name: str, result: dict, log_name: str, bytes_in: int = corpus_bytes):
        """A row for a command without a timed section of its own: its wall time."""
        if result["exit"] != 0:
            raise SystemExit(f"{name} failed, see {work}/{log_name}")
        add(name, {**result, "seconds": result["wall"], "articles": articles}, bytes_in=bytes_in)

    if "stages" in methods:
        extras["stages"] = {}
        for engine in engines:
            out = work / f"out-stages-{engine}"
            stages = run_child("stages", args, out, work, ["--engine", engine])
            extras["stages"][engine] = stages
            shutil.rmtree(out, ignore_errors=True)
            log(f"stages {engine} (ms/article): {stages['ms_per_article']}")
        extras["imports"] = {}
        for module in (
            "newsprep.run.engine.batch",
            "newsprep.run.orchestration.prefect_tasks",
            "newsprep.flows.normalize_corpus",
        ):
            r = run_child("imports", args, work / "unused", work, ["--module", module])
            extras["imports"][module] = {
                "import_s": r["seconds"],
                "wall_s": r["wall"],
                "rss_mb": r["max_proc_rss_mb"],
            }
        log(f"imports: {extras['imports']}")
    if "bookkeeping" in methods:
        extras["bookkeeping"] = {}
        for engine in engines:
            out = work / f"out-bookkeeping-{engine}-{time.monotonic_ns()}"
            extra = ["--engine", engine, "--repeat", str(args.repeat)]
            result = run_child("bookkeeping", args, out, work, extra)
            extras["bookkeeping"][engine] = result
            log(f"bookkeeping {engine} (ms/article): {result['ms_per_article']}")
            log(f"bookkeeping {engine} (CPU ms/article): {result.get('cpu_ms_per_article')}")
            if not args.keep_outputs:
                shutil.rmtree(out, ignore_errors=True)
    if "loop" in methods:
        out = work / "out-loop"
        add(
            "loop (1 process)",
            least_noisy(lambda: run_child("loop", args, out, work), out),
            out=out,
        )
    baseline = None
    pools: dict[str, str] = {}  # engine -> its pool's method name
    for engine in engines if "pool" in methods else ():
        out = work / f"out-pool-{engine}"
        name = f"pool ({args.workers} workers{'' if engine == 'sacremoses' else ', ' + engine})"
        add(
            name,
            least_noisy(
                lambda out=out, engine=engine: run_child(
                    "pool", args, out, work, ["--engine", engine]
                ),
                out,
            ),
            out=out,
            engine=engine,
        )
        pools[engine] = name
        if engine == "sacremoses":
            baseline = rows[-1]
    if "pool-pa" in methods:
        out = work / "out-pool-pa"
        add(
            f"pool + process_article ({args.workers} w)",
            least_noisy(lambda: run_child("pool-pa", args, out, work), out),
            out=out,
        )

    if "newsprep" in methods:
        server = PrefectServer(work / "prefect-home", work / "prefect-server.log")
        extras["server_start_s"] = server.start()
        log(f"prefect server at {server.url} (healthy after {extras['server_start_s']:.1f}s)")
        try:
            idle0 = cpu_seconds(process_tree(server.proc.pid))
            time.sleep(5)
            extras["server_idle_cpu_per_s"] = (
                cpu_seconds(process_tree(server.proc.pid)) - idle0
            ) / 5
            worker_flag = (
                []
                if args.workers == len(os.sched_getaffinity(0))
                else ["--workers", str(args.workers)]
            )
            if args.profile != "default":
                worker_flag += ["--profile", args.profile]
            # fixed cost: the same run on a 2-article corpus (also warms the server)
            tiny = work / "corpus-tiny"
            rels = list_corpus(corpus_dir)[:2]
            for rel in rels:
                (tiny / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(corpus_dir / rel, tiny / rel)
            tiny_bytes = sum((tiny / r).stat().st_size for r in rels)
            out = work / "out-newsprep-tiny"
            add(
                "newsprep run, 2 articles (fixed cost)",
                run_newsprep(tiny, out, server, worker_flag, work / "newsprep-tiny.log"),
                bytes_in=tiny_bytes,
            )
            shutil.rmtree(out, ignore_errors=True)
            variants = []
            for runner in args.runners.split(","):
                runner_flag = [] if runner == "process" else ["--runner", runner]
                variants.append(
                    (
                        f"newsprep run{'' if not runner_flag else ' ' + runner} (auto batch)",
                        worker_flag + runner_flag,
                        "sacremoses",
                    )
                )
                for size in filter(None, args.batch_sizes.split(",")):
                    variants.append(
                        (
                            f"newsprep run{'' if not runner_flag else ' ' + runner}"
                            f" --batch-size {size}",
                            worker_flag + runner_flag + ["--batch-size", size],
                            "sacremoses",
                        )
                    )
            # the default run first, then the other engines' default runs, then the rest
            others = [
                (f"newsprep run --tokenizer-engine {engine}", worker_flag, engine)
                for engine in engines
                if engine != "sacremoses"
            ]
            variants = [variants[0], *others, *variants[1:]] if "sacremoses" in engines else others
            for index, (name, extra, engine) in enumerate(variants):
                out = work / f"out-newsprep-{index}"
                if engine != "sacremoses":
                    extra = [*extra, "--tokenizer-engine", engine]

                def once(out=out, extra=extra, index=index):
                    return run_newsprep(
                        corpus_dir, out, server, extra, work / f"newsprep-{index}.log"
                    )

                result = least_noisy(once, out)
                if index == 0 and args.paired:
                    extras["paired"] = paired_runs(args, work, once, out, engine)
                add(
                    f"{name} [bs {result['batch_size']} x {result['batches']}]",
                    result,
                    out=out,
                    engine=engine,
                )
        finally:
            server.stop()

    if "sacremoses" in methods:
        lines_file = work / "corpus.lines.txt"
        lines_bytes = write_lines_file(corpus_dir, list_corpus(corpus_dir), lines_file)
        with open(lines_file, "rb") as handle:
            extras["sacremoses_lines"] = sum(1 for _ in handle)
        for jobs in sorted({args.workers, 1}, reverse=True):
            out_file = work / f"sacremoses-j{jobs}.txt"
            cmd = [str(VENV_BIN / "sacremoses"), "-q", "-l", "en", "-j", str(jobs), "tokenize"]

            def once(cmd=cmd, out_file=out_file, jobs=jobs):
                with open(lines_file, "rb") as fin, open(out_file, "wb") as fout:
                    return measure(
                        cmd, stdin=fin, stdout=fout, log=work / f"sacremoses-j{jobs}.log"
                    )

            add_command(
                f"sacremoses CLI -j {jobs} (tokenize only, escaped)",
                least_noisy(once),
                f"sacremoses-j{jobs}.log",
                lines_bytes,
            )
            out_file.unlink()

    if "perl" in methods:
        if not args.moses:
            raise SystemExit("--methods perl needs --moses DIR (a mosesdecoder checkout)")
        lines_file = work / "corpus.lines.txt"
        lines_bytes = write_lines_file(corpus_dir, list_corpus(corpus_dir), lines_file)
        scripts = Path(args.moses) / "scripts" / "tokenizer"
        out_file = work / f"perl-{time.monotonic_ns()}.txt"  # a fresh file each run
        shell = (
            f"perl {scripts}/tokenizer.perl -q -l en -no-escape -a -threads {args.workers} "
            f"< {lines_file} | perl {scripts}/lowercase.perl > {out_file}"
        )
        add_command(
            f"tokenizer.perl -threads {args.workers} piped to lowercase.perl (no unicode fix)",
            least_noisy(lambda: measure(["bash", "-c", shell], log=work / "perl.log")),
            "perl.log",
            lines_bytes,
        )
        if not args.keep_outputs:
            out_file.unlink()
    if "datatrove" in methods:
        if not args.datatrove_python:
            raise SystemExit("--methods datatrove needs --datatrove-python PATH")
        shards = work / "corpus-jsonl"
        if not shards.exists():
            shards.mkdir()
            rels = list_corpus(corpus_dir)
            for shard in range(args.workers):
                with open(shards / f"{shard:02d}.jsonl", "w", encoding="utf-8") as handle:
                    for rel in rels[shard :: args.workers]:
                        text = (corpus_dir / rel).read_bytes().decode("utf-8")
                        handle.write(json.dumps({"id": rel, "text": text}) + "\n")
        out = work / f"out-datatrove-{time.monotonic_ns()}"  # a fresh folder each run
        cmd = [
            args.datatrove_python,
            str(Path(__file__).with_name("datatrove_peer.py")),
            str(shards),
            str(out),
            "--workers",
            str(args.workers),
        ]
        add_command(
            "datatrove: JSONL -> FTFY -> sacremoses + lower -> JSONL",
            least_noisy(lambda: measure(cmd, log=work / "datatrove.log")),
            "datatrove.log",
        )
        shutil.rmtree(out, ignore_errors=True)

    # are the outputs the same bytes as the pool's (with the same engine)?
    checks = {}
    for name, found in digests.items():
        pool = pools.get(engine_of[name])
        if pool is not None and name != pool:
            reference = digests[pool]
            diff = sum(1 for k in set(found) | set(reference) if found.get(k) != reference.get(k))
            checks[name] = {"files": len(found), "pool": pool, "differ_from_pool": diff}
    for engine, pool in pools.items():  # how often the engines disagree on this corpus
        if engine != "sacremoses" and "sacremoses" in pools:
            found, reference = digests[pool], digests[pools["sacremoses"]]
            diff = sum(1 for k in set(found) | set(reference) if found.get(k) != reference.get(k))
            checks[pool] = {
                "files": len(found),
                "pool": pools["sacremoses"],
                "differ_from_pool": diff,
            }

    git_end = machine()["git"]
    if git_end != m["git"]:
        m["git"] += f" -> {git_end} at the end: the working tree changed during the benchmark"
    report = [
        f"### newsprep benchmark: {articles} articles, {corpus_bytes / MB:.1f} MB "
        f"({corpus_bytes / max(1, articles):.0f} B/article), {args.workers} workers",
        "",
        f"Machine: {machine_line(m)}",
        "",
        table(rows, baseline),
        "",
    ]
    split = [
        r for r in rows if "root_cpu_seconds" in r and r["method"].startswith(("pool", "newsprep"))
    ]
    texts = [r for r in rows if r.get("text_split", {}).get("articles")]
    if texts:
        report += [
            "Text work against the rest, in the processes that ran it (--split-text; CPU "
            "from each one's start, as last noted): "
            + "; ".join(
                f"{r['method']}: {_split_line(r['text_split'])}" for r in texts
            ),
            "",
        ]
    if split:
        report += [
            "CPU split, root process (pool parent / newsprep CLI+flow) + descendants "
            "(workers): "
            + "; ".join(
                f"{r['method']}: {r['root_cpu_seconds']:.1f} + {r['descendants_cpu_seconds']:.1f} s"
                for r in split
            ),
            "",
        ]
    if "stages" in extras:
        for engine, st in extras["stages"].items():
            total = st["seconds"] * 1000 / max(1, st["articles"])
            guarded, seen = st["guarded_lines"]
            report += [
                f"Per-stage cost, {st['profile']} profile, {engine} engine, single process, "
                f"first {st['articles']} articles (warm-up {st['warm_up_ms']:.0f} ms once): "
                + ", ".join(
                    f"{k} {v:.3f} ms ({100 * v / total:.0f}%)"
                    for k, v in st["ms_per_article"].items()
                )
                + f"; total {total:.3f} ms/article"
                + (f"; the guard sends {guarded} of {seen} lines to sacremoses." if seen else "."),
                "",
            ]
        report += [
            "Import cost in a fresh interpreter: "
            + ", ".join(
                f"{k} {v['import_s']:.2f} s ({v['rss_mb']:.0f} MB)"
                for k, v in extras["imports"].items()
            ),
            "",
        ]
    for engine, bk in extras.get("bookkeeping", {}).items():
        report += [
            f"newsprep's per-article path in one process, {engine} engine, first "
            f"{bk['articles']} articles, ms per article in each alternate pass: "
            + "; ".join(f"{k} {v}" for k, v in bk["ms_per_article"].items())
            + " (CPU ms: "
            + "; ".join(f"{k} {v}" for k, v in bk.get("cpu_ms_per_article", {}).items())
            + "). cProfile of one more process_batch pass, cumulative (ms per article, calls): "
            + ", ".join(f"{k} {ms} ({n})" for k, (ms, n) in bk["parts_ms_per_article"].items())
            + "; costliest own time: "
            + ", ".join(f"{f} {ms} ({calls})" for f, ms, calls in bk["profile_ms_per_article"])
            + ".",
            "",
        ]
    if "server_start_s" in extras:
        report += [
            f"Prefect server: healthy after {extras['server_start_s']:.1f} s, idle CPU "
            f"{extras['server_idle_cpu_per_s']:.3f} CPU-s/s.",
            "",
        ]
    if "paired" in extras:
        pairs = extras["paired"]["pairs"]
        report += [
            "Paired runs (pool, then the default newsprep run, alternately): "
            + "; ".join(
                f"{p['pool_s']:.2f} s / {p['newsprep_s']:.2f} s = {p['ratio']:.2f}" for p in pairs
            )
            + f". Median newsprep throughput: **{extras['paired']['median_ratio']:.2f}** "
            "of the pool's.",
            "",
        ]
    if checks:
        report += [
            "Output check (sha256 of every file) against the pool: "
            + "; ".join(
                f"{k}: {v['files']} files, {v['differ_from_pool']} differ from {v['pool']}"
                for k, v in checks.items()
            ),
            "",
        ]
    print("\n".join(report))
    if args.json_path:
        Path(args.json_path).write_text(
            json.dumps(
                {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "machine": m,
                    "rows": rows,
                    "checks": checks,
                    **extras,
                },
                indent=2,
            )
        )
    if temp_corpus and not args.keep_outputs:
        shutil.rmtree(corpus_dir, ignore_errors=True)
    if not args.work_dir and not args.keep_outputs:
        shutil.rmtree(work, ignore_errors=True)
    else:
        log(f"work dir kept: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
