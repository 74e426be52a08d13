#!/bin/bash
# User-space instructions an article of the run machinery (benchmarks/machinery.py, the
# text work a lookup), counted by valgrind's callgrind: two passes minus one, so that
# start-up cancels. CPU time on this VM swings by tens of percent; the count by ~1.5%
# (what runs on a clock, such as the checkpoints' timed writes, runs ~50x slower here).
# Kernel work (syscalls) is not counted.
#
#   bash benchmarks/machinery_instructions.sh /dev/shm/nc4k shards   # or: plain
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=$1 side=$2
lookup=$(mktemp -d)/lookup.pickle
trap 'rm -rf "$(dirname "$lookup")"' EXIT
.venv/bin/python benchmarks/machinery.py --corpus "$corpus" --lookup "$lookup" --only "$side" \
    --passes 0
export PYTHONHASHSEED=0  # the same hashing every run: a steadier count
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python \
        benchmarks/machinery.py --corpus "$corpus" --lookup "$lookup" --only "$side" \
        --passes "$1" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
one=$(count 1) two=$(count 2)
articles=$(find "$corpus" -type f | wc -l)
echo "$side: $(( (two - one) / articles )) instructions an article ($articles articles;" \
    "one pass $one, two $two)"
