#!/usr/bin/env bash
# bench/api/run.sh - the control API under load: a real CoreDNS with gtm, its
# API on a bbolt store, 200 concurrent HTTP clients reading and writing for
# 60 s while DNS queries run against the instances they change, every DNS
# answer checked; then how long a configuration change takes to show in the
# answers.
#
#   bash bench/api/run.sh [--duration 60s] [--clients 200] [--write-share 0.2]
#                         [--dns-workers 8] [--changes 50] [--no-record]
#
# e.g. `bash bench/api/run.sh` (about 75 s after the build), or
# `bash bench/api/run.sh --duration 5s --changes 5 --no-record` to check
# that the harness works.
#
# It builds the gtm CoreDNS (go build ./cmd/coredns) and the driver
# (bench/api/load, whose header says exactly what it does) and runs the
# driver, which:
#
#   - starts CoreDNS on free 127.0.0.1 ports with `api` and a store in a
#     temporary directory, and serves the live TCP backends its monitor
#     probes (interval 1 s; every pool has a live address, a dead one and a
#     changing set of live ones, on 127.0.10-13.x);
#   - creates 4 pools and 4 instances (and a pool and instance 'lag');
#   - runs the clients for the duration: reads (lists, objects, history,
#     revisions) and, with probability --write-share, writes: a pool PUT
#     with If-Match from the GET just before it (412 when another write came
#     between: the only error status expected) or an address override PUT;
#   - meanwhile runs --dns-workers UDP query loops against the instances
#     (a Go loop with github.com/miekg/dns rather than dnsperf, because each
#     answer is kept and checked: it must equal the usable addresses of a
#     revision that could have been current while it was asked, worked out
#     from every acknowledged write's revision and its send and
#     acknowledgement times);
#   - measures config change to answer: the pool 'lag''s one address is
#     replaced --changes times during the load and --changes times after,
#     and the time from the PUT's start to the first DNS answer with the
#     new address is recorded (DNS asked back to back).
#
# It prints requests/s, statuses other than 200 by kind, p50/p99 of reads,
# acknowledged writes and 412s, DNS QPS, incorrect answers and DNS errors,
# the change-to-answer median/p99 (with the PUT's own latency beside it),
# server CPU and peak RSS, and exits non-zero on any incorrect answer. Unless
# --no-record, it appends the table with the date, commit, machine and
# command to bench/RESULTS.md. The load generator shares the machine with
# the server (no CPU pinning): the figures are the whole system's on this
# machine. All traffic stays on loopback; everything started is stopped.
set -euo pipefail
duration=60s clients=200 write_share=0.2 dns_workers=8 changes=50 record=1
command_line="bash bench/api/run.sh${*:+ $*}"
while [ $# -gt 0 ]; do
    case "$1" in
    --duration) duration=${2:?}; shift 2 ;;
    --clients) clients=${2:?}; shift 2 ;;
    --write-share) write_share=${2:?}; shift 2 ;;
    --dns-workers) dns_workers=${2:?}; shift 2 ;;
    --changes) changes=${2:?}; shift 2 ;;
    --no-record) record=0; shift ;;
    *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gtm-apibench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/coredns" ./cmd/coredns
go build -o "$tmp/load" ./bench/api/load
start=$(date +%s)
load_before=$(cut -d' ' -f1 /proc/loadavg)
status=0
"$tmp/load" -bin "$tmp/coredns" -duration "$duration" -clients "$clients" -write-share "$write_share" \
    -dns-workers "$dns_workers" -changes "$changes" -md "$tmp/table.md" || status=$?
elapsed=$(($(date +%s) - start))
load_after=$(cut -d' ' -f1 /proc/loadavg)
if [ "$record" = 1 ] && [ -s "$tmp/table.md" ]; then
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [ -n "$(git status --porcelain 2>/dev/null | head -n 1)" ]; then commit="$commit (working tree had uncommitted changes)"; fi
    cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
    {
        echo
        echo "## $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit — control API under load"
        echo
        echo "- machine: $(nproc) CPUs, ${cpu:-unknown CPU}, $(uname -sr), $(go env GOVERSION); server, HTTP clients and DNS loops share it, unpinned; 1-minute load average $load_before before the run, $load_after at its end"
        echo "- command: \`$command_line\` ($clients HTTP clients for $duration, write share $write_share, $dns_workers DNS loops, $changes changes during and after the load; took ${elapsed} s after the build)"
        [ "$status" = 0 ] || echo "- the run FAILED (exit $status): see the table"
        echo
        cat "$tmp/table.md"
    } >>bench/RESULTS.md
    echo "appended to bench/RESULTS.md"
fi
exit "$status"
