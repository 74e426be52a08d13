"""bench.py --split-text: each process that runs the text work (normalize_text) notes its
CPU in it and all its CPU since it started, in $NEWSPREP_BENCH_SPLIT/<pid>.

On PYTHONPATH only for a measured command. The stage module is wrapped when something
imports it (a worker, or the fork server it is forked from), so a process that never
imports it (the command of `newsprep run`) is left as it is."""

import os
import sys

_FOLDER = os.environ.get("NEWSPREP_BENCH_SPLIT")
_MODULE = "newsprep.tasks.stages.normalize"
_EVERY = 200  # articles between two notes; the last note is written when the process ends


def _wrap(module) -> None:
    import time
    from multiprocessing import util

    text = module.normalize_text
    clock = time.process_time
    spent = {"text": 0.0, "articles": 0, "pid": None}

    def note() -> None:
        path = os.path.join(_FOLDER, str(os.getpid()))
        with open(path + ".new", "w") as handle:
            handle.write(f"{spent['articles']} {spent['text']:.6f} {clock():.6f}\n")
        os.replace(path + ".new", path)

    def timed(*args, **kwargs):
        if spent["pid"] != os.getpid():  # the first article of a (forked) process
            spent.update(text=0.0, articles=0, pid=os.getpid())
            util.Finalize(None, note, exitpriority=100)
        started = clock()
        try:
            return text(*args, **kwargs)
        finally:
            spent["text"] += clock() - started
            spent["articles"] += 1
            if spent["articles"] % _EVERY == 0:
                note()

    module.normalize_text = timed


if _FOLDER:
    import importlib.abc
    import importlib.util

    class _Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != _MODULE:
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            run = spec.loader.exec_module

            def exec_module(module) -> None:
                run(module)
                _wrap(module)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _Hook())
