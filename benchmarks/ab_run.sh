#!/bin/bash
# A/B of `newsprep run` against a lasting Prefect server, in pairs: A runs with REF's
# version of FILES, B with the working tree's, alternately (the VM's speed swings too much
# for runs far apart to be compared). Each line: the run's wall time, its user and system
# CPU (the command and its workers), the Prefect server's CPU during it, and when the first
# and last output files were written after the command started.
#
#   newsprep server start   # once, with the same PREFECT_HOME
#   REF=55a4c5d bash benchmarks/ab_run.sh 10 /dev/shm/nc20k newsprep/cli.py tasks/io/files.py
#
# The working tree's FILES are saved first and put back at the end; a file REF does not
# have is left empty for A. Extra `newsprep run` options: NEWSPREP_ARGS (default: the
# moses profile, the fast engine).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=$1 src=$2
shift 2
files=("$@")
ref=${REF:-HEAD}
args=${NEWSPREP_ARGS:---profile moses --tokenizer-engine fast}
home=${PREFECT_HOME:-$HOME/.prefect}
saved=$(mktemp -d)
for f in "${files[@]}"; do mkdir -p "$saved/$(dirname "$f")"; cp "$f" "$saved/$f"; done
restore() { for f in "${files[@]}"; do cp "$saved/$f" "$f"; done; rm -rf "$saved"; }
trap restore EXIT
server=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['pid'])" \
    "$home/newsprep-server.json")
server_cpu() {
    python3 -c "import os, sys; f = open(f'/proc/{sys.argv[1]}/stat').read().rsplit(')', 1)[1].split()
print((int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK'))" "$server"
}
for round in $(seq 1 "$rounds"); do
    for side in A B; do
        for f in "${files[@]}"; do
            if [ "$side" = A ]; then git show "$ref:$f" > "$f" 2> /dev/null || : > "$f"
            else cp "$saved/$f" "$f"; fi
        done
        out=$(mktemp -d /dev/shm/ab-run-XXXXXX)
        rm -rf "$out"
        before=$(server_cpu)
        start=$(date +%s.%N)
        # shellcheck disable=SC2086
        /usr/bin/time -f "%U %S" -o "$saved/time" .venv/bin/newsprep run "$src" "$out" $args \
            > "$saved/log" 2>&1
        end=$(date +%s.%N)
        after=$(server_cpu)
        python3 - "$side" "$out" "$start" "$end" "$before" "$after" "$(cat "$saved/time")" <<'EOF'
import os, sys
side, out, start, end, before, after, cpu = sys.argv[1:]
start, end = float(start), float(end)
written = sorted(
    os.stat(os.path.join(root, name)).st_mtime
    for root, _, names in os.walk(out) if "/_" not in root[len(out):] for name in names
    if not name.startswith("_")
)
user, system = cpu.split()
print(f"{side} wall {end - start:.2f} s, cpu {user} user {system} sys, server "
      f"{float(after) - float(before):.2f} s, first output +{written[0] - start:.2f} s, "
      f"last +{written[-1] - start:.2f} s")
EOF
        rm -rf "$out"
    done
done
