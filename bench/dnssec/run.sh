#!/usr/bin/env bash
# bench/dnssec/run.sh - throughput of gtm's online DNSSEC signing, measured
# with dnsperf on loopback, beside CoreDNS's file + dnssec plugins serving
# the same name with the same key.
#
#   bash bench/dnssec/run.sh [--rounds N] [--seconds S] [--alg ALG]
#
#   --rounds N    rounds (default 3); each runs every case once, in turn,
#                 against the same two servers, so ratios within a round
#                 compare runs seconds apart.
#   --seconds S   measured seconds per run (default 5), after 1 s of warm-up.
#   --alg ALG     dnssec-keygen algorithm (default ECDSAP256SHA256).
#
# Both servers are started once, pinned to CPU 0 (so GOMAXPROCS is 1) on
# free 127.0.0.1 ports: gtm (zone bench.example, www with 3 A records from
# one pool, method all, signed with one CSK), and file + dnssec (the same
# www, the same key, its signature cache at the default 10,000). dnsperf
# runs on CPU 1 (-c 8 -q 100). Cases, per round:
#
#   g0  gtm, www A, EDNS without DO          f0  file+dnssec, the same
#   g1  gtm, www A, DO                       f1  file+dnssec, the same
#   gx  gtm, random names (NXDOMAIN), DO     fx  file+dnssec, the same
#   gf  gtm under the random-name flood with DO (dnsperf at full rate),
#       while a second dnsperf asks www A with DO at 2,000 QPS: how the
#       other names fare during the flood (QPS, lost, latency).
#
# Random names are fresh for every run and its warm-up (100,000 a run,
# more than a run asks), so neither server answers a name twice. It prints per round the
# QPS of each case and the ratios g1/g0, g1/f1 and gx/fx, then their
# medians, and the same ratios from the server's CPU time per query
# (/proc utime+stime over the run), which other processes on the machine
# disturb less than QPS. Needs go, dnsperf, dnssec-keygen (bind9utils) and taskset; all
# traffic stays on loopback; servers and dnsperf are bounded in time and
# stopped on exit.
set -euo pipefail

rounds=3 seconds=5 alg=ECDSAP256SHA256
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=${2:?}; shift 2 ;;
    --seconds) seconds=${2:?}; shift 2 ;;
    --alg) alg=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
for v in rounds seconds; do
    if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then echo "run.sh: --$v must be a positive integer" >&2; exit 2; fi
done
for c in go dnsperf dnssec-keygen taskset; do
    command -v "$c" >/dev/null || { echo "run.sh: needs $c" >&2; exit 1; }
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gtm-dnssec.XXXXXX")
pids=()
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== building CoreDNS with gtm"
go build -o "$tmp/coredns" ./cmd/coredns

key=$(cd "$tmp" && dnssec-keygen -q -a "$alg" -f KSK bench.example)
cat >"$tmp/db.bench.example" <<EOF
\$ORIGIN bench.example.
@	60 IN SOA ns1.bench.example. hostmaster.bench.example. 1 7200 1800 1209600 60
	60 IN NS ns1.bench.example.
ns1	60 IN A 127.0.0.53
www	30 IN A 192.0.2.1
www	30 IN A 192.0.2.2
www	30 IN A 192.0.2.3
EOF

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gport=$(free_port)
fport=$(free_port)
cat >"$tmp/gtm.Corefile" <<EOF
bench.example:$gport {
    bind 127.0.0.1
    gtm {
        ns ns1.bench.example 127.0.0.53
        pool web {
            address 192.0.2.1 192.0.2.2 192.0.2.3
        }
        instance www {
            primary web
        }
        dnssec {
            key file $tmp/$key
        }
    }
}
EOF
cat >"$tmp/file.Corefile" <<EOF
bench.example:$fport {
    bind 127.0.0.1
    dnssec {
        key file $tmp/$key
    }
    file $tmp/db.bench.example
}
EOF
life=$((rounds * 7 * (seconds + 4) + 120))
declare -A spid
for s in gtm file; do
    timeout "$life" taskset -c 0 "$tmp/coredns" -conf "$tmp/$s.Corefile" -quiet >"$tmp/$s.log" 2>&1 &
    pids+=($!)
    for ((i = 0; i < 50; i++)); do # the server: timeout's child (taskset execs coredns)
        spid[$s]=$(awk '{print $1}' "/proc/$!/task/$!/children" 2>/dev/null) || true
        [ -n "${spid[$s]}" ] && break
        sleep 0.1
    done
done
clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
echo "www.bench.example A" >"$tmp/www.q"
for port in $gport $fport; do
    for ((i = 0; i < 100; i++)); do
        dig +short +time=1 +tries=1 -p "$port" @127.0.0.1 www.bench.example A 2>/dev/null | grep -q 192.0.2 && break
        sleep 0.1
    done
done

# names N FILE: N random names in bench.example, never asked before.
names() { od -An -v -tx8 -N $(($1 * 8)) /dev/urandom | awk '{ for (i = 1; i <= NF; i++) print "r" $i ".bench.example A" }' >"$2"; }

# perf PORT FILE SECONDS [ARGS...]: QPS, lost and average latency (ms).
perf() {
    local port=$1 file=$2 secs=$3
    shift 3
    taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$file" -l "$secs" -c 8 -q 100 -t 2 "$@" 2>&1 |
        awk '/Queries per second:/ {q = $4} /Queries lost:/ {l = $3} /Average Latency/ {a = $4 * 1000} END {printf "%.0f %s %.2f\n", q, l, a}'
}

results=$tmp/results.tsv
: >"$results"
for ((r = 1; r <= rounds; r++)); do
    declare -A q=() u=()
    for c in g0 g1 f0 f1 gx fx gf; do
        case $c in
        g0) port=$gport file=$tmp/www.q args=(-e) srv=${spid[gtm]} ;;
        g1) port=$gport file=$tmp/www.q args=(-D) srv=${spid[gtm]} ;;
        f0) port=$fport file=$tmp/www.q args=(-e) srv=${spid[file]} ;;
        f1) port=$fport file=$tmp/www.q args=(-D) srv=${spid[file]} ;;
        gx | gf) port=$gport file=$tmp/nx-$r-$c.q args=(-D) srv=${spid[gtm]}; names 100000 "$file" ;;
        fx) port=$fport file=$tmp/nx-$r-$c.q args=(-D) srv=${spid[file]}; names 100000 "$file" ;;
        esac
        warm=$file
        if [[ $c == ?x || $c == gf ]]; then # names of their own: a repeated name may be a cache hit
            warm=$tmp/warm-$r-$c.q
            names 50000 "$warm"
        fi
        perf "$port" "$warm" 1 "${args[@]}" >/dev/null # warm-up
        t0=$(cpu_ticks "$srv")
        if [ "$c" = gf ]; then
            perf "$gport" "$tmp/www.q" "$seconds" -D -Q 2000 >"$tmp/other" &
            other=$!
            out=$(perf "$port" "$file" "$seconds" "${args[@]}")
            wait "$other"
            read -r oq ol oa <"$tmp/other"
            printf '%s\tgf-www\t%s\t%s\t%s\t-\n' "$r" "$oq" "$ol" "$oa" >>"$results"
        else
            out=$(perf "$port" "$file" "$seconds" "${args[@]}")
        fi
        t1=$(cpu_ticks "$srv")
        read -r qps lost lat <<<"$out"
        q[$c]=$qps
        # server CPU per query, µs: steadier than QPS on a machine that
        # others keep busy (the flood's includes the www queries beside it)
        n=$((qps * seconds))
        [ "$c" = gf ] && n=$(((qps + oq) * seconds))
        us=$(echo "($t1 - $t0) * 1000000 / $clk / ($n + 1)" | bc -l)
        u[$c]=$us
        printf '%s\t%s\t%s\t%s\t%s\t%.1f\n' "$r" "$c" "$qps" "$lost" "$lat" "$us" >>"$results"
    done
    printf 'round %d: g0 %s g1 %s f0 %s f1 %s gx %s fx %s gf %s (www during flood: %s QPS, %s lost, %s ms)\n' \
        "$r" "${q[g0]}" "${q[g1]}" "${q[f0]}" "${q[f1]}" "${q[gx]}" "${q[fx]}" "${q[gf]}" "$oq" "$ol" "$oa"
    printf '%s\tratios\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n' "$r" "$(echo "${q[g1]} / ${q[g0]}" | bc -l)" \
        "$(echo "${q[g1]} / ${q[f1]}" | bc -l)" "$(echo "${q[gx]} / ${q[fx]}" | bc -l)" \
        "$(echo "${u[g0]} / ${u[g1]}" | bc -l)" "$(echo "${u[f1]} / ${u[g1]}" | bc -l)" "$(echo "${u[fx]} / ${u[gx]}" | bc -l)" >>"$results"
    unset q u
done

echo
echo "per run (round, case, QPS, lost, avg latency ms, server CPU µs per query):"
grep -v ratios "$results"
echo
echo "ratios per round: QPS g1/g0, g1/f1, gx/fx; the same from server CPU per query (g0/g1 = g0's CPU per query over g1's, ...):"
grep ratios "$results" | cut -f1,3-
median() { sort -g | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo
printf 'medians: g0 %s  g1 %s  f0 %s  f1 %s  gx %s  fx %s  gf %s  www during flood %s QPS\n' \
    "$(awk '$2 == "g0" {print $3}' "$results" | median)" "$(awk '$2 == "g1" {print $3}' "$results" | median)" \
    "$(awk '$2 == "f0" {print $3}' "$results" | median)" "$(awk '$2 == "f1" {print $3}' "$results" | median)" \
    "$(awk '$2 == "gx" {print $3}' "$results" | median)" "$(awk '$2 == "fx" {print $3}' "$results" | median)" \
    "$(awk '$2 == "gf" {print $3}' "$results" | median)" "$(awk '$2 == "gf-www" {print $3}' "$results" | median)"
printf 'median ratios, QPS: g1/g0 %s  g1/f1 %s  gx/fx %s\n' \
    "$(awk '$2 == "ratios" {print $3}' "$results" | median)" "$(awk '$2 == "ratios" {print $4}' "$results" | median)" \
    "$(awk '$2 == "ratios" {print $5}' "$results" | median)"
printf 'median ratios, by server CPU per query: g1/g0 %s  g1/f1 %s  gx/fx %s\n' \
    "$(awk '$2 == "ratios" {print $6}' "$results" | median)" "$(awk '$2 == "ratios" {print $7}' "$results" | median)" \
    "$(awk '$2 == "ratios" {print $8}' "$results" | median)"
printf 'median server CPU per query (µs): g0 %s  g1 %s  f0 %s  f1 %s  gx %s  fx %s\n' \
    "$(awk '$2 == "g0" {print $6}' "$results" | median)" "$(awk '$2 == "g1" {print $6}' "$results" | median)" \
    "$(awk '$2 == "f0" {print $6}' "$results" | median)" "$(awk '$2 == "f1" {print $6}' "$results" | median)" \
    "$(awk '$2 == "gx" {print $6}' "$results" | median)" "$(awk '$2 == "fx" {print $6}' "$results" | median)"
echo "(alg $alg, $rounds rounds of ${seconds}s, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD))"
