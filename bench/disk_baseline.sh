#!/usr/bin/env bash
# Raw sequential write bandwidth of the disk holding DIR (default ./rill-bench-data), to
# compare with bench/storage_bench (run it with RILL_BENCH_DIR=DIR).
#
#   page cache       dd bs=B                       (no sync)
#   one final sync   dd bs=B conv=fdatasync        (sync once at the end)
#   sync per write   dd bs=B oflag=dsync           (every write durable before the next;
#                                                  the bound for one batch per fdatasync)
# and, when fio is installed, fio sequential writes with fdatasync after every write.
#
# usage: bench/disk_baseline.sh [DIR] [TOTAL_MIB]
set -euo pipefail
DIR=${1:-./rill-bench-data}
TOTAL=${2:-1024}
mkdir -p "$DIR"
F="$DIR/dd-baseline.bin"
trap 'rm -f "$F"' EXIT

run() {  # label, dd args...
    local label=$1; shift
    rm -f "$F"
    sync
    local out
    out=$(dd if=/dev/zero of="$F" "$@" 2>&1 | tail -1)
    printf '%-34s %s\n' "$label" "$out"
}

echo "disk: $(df -h "$DIR" | tail -1)"
for bs in 16K 1M; do
    if [ "$bs" = 16K ]; then n=$((TOTAL * 64)); nd=$((n / 8)); else n=$TOTAL; nd=$((TOTAL / 2)); fi
    run "bs=$bs page cache" bs=$bs count=$n
    run "bs=$bs conv=fdatasync" bs=$bs count=$n conv=fdatasync
    run "bs=$bs oflag=dsync" bs=$bs count=$nd oflag=dsync
done

if command -v fio >/dev/null; then
    for bs in 16k 1m; do
        size=$([ "$bs" = 16k ] && echo 128m || echo 512m)
        echo "fio bs=$bs fdatasync=1:"
        fio --name=seqsync --filename="$F" --rw=write --bs=$bs --size=$size --fdatasync=1 \
            --ioengine=psync --end_fsync=1 --output-format=terse --terse-version=3 |
            awk -F';' '{printf "  write bw %.1f MiB/s, iops %s\n", $48/1024, $49}'
    done
else
    echo "(fio not installed: apt-get install -y fio for the fio rows)"
fi
