#!/usr/bin/env bash
# bench/perf/run.sh - DNS throughput of a real CoreDNS with gtm, beside
# CoreDNS's own whoami and file plugins, measured with dnsperf on loopback.
#
#   bash bench/perf/run.sh [--rounds N] [--seconds S] [--warmup S]
#                          [--clients C] [--outstanding Q] [--quiet-wait S]
#                          [--smoke]
#
# e.g. `bash bench/perf/run.sh --rounds 3 --seconds 10` (about 4 minutes on
# the 2-core machine), or `bash bench/perf/run.sh --smoke` in CI.
#
#   --rounds N       rounds; each round runs every case once, in turn
#                    (A B ... G, A B ... G, ...). Default 3.
#   --seconds S      measured seconds per run. Default 10.
#   --warmup S       unmeasured dnsperf seconds before each run. Default 2.
#   --clients C      dnsperf -c (UDP sockets). Default 8.
#   --outstanding Q  dnsperf -q (queries in flight). Default 100.
#   --quiet-wait S   before each run, wait up to S seconds for the machine to
#                    be idle (other processes using < 15% of a core over 1 s);
#                    then run anyway. Default 60 (0 in --smoke).
#   --cases "IDS"    run only these cases, e.g. --cases "f g". Default all.
#   --paired         start every chosen case's server once, wait until each
#                    answers (and is ready), then run the cases in turn for
#                    each round against the same servers and report, per
#                    round, QPS and server CPU per query, and the ratios
#                    c/a, d/a, e/a, g/f, h/d and h/a within each round with their
#                    medians. On a machine whose speed drifts from minute to
#                    minute, ratios of runs seconds apart are steadier than
#                    medians of runs minutes apart. E.g.
#                    --paired --cases "a c f g" --rounds 7 --seconds 5.
#   --smoke          1 round of 2 s per case (a to f), no warm-up, no quiet wait:
#                    checks that the harness works (CI), not the speed.
#                    Writes no results; exits non-zero if a case answered no
#                    queries or anything in the harness broke. Flags given
#                    with it still apply.
#
# It builds the gtm CoreDNS (go build ./cmd/coredns) and its helper
# (bench/perf/perfkit) once, then for each run starts a fresh server pinned
# to CPU 0 (taskset -c 0, so GOMAXPROCS=1) on a free 127.0.0.1 port, waits
# until it answers with the expected records, and drives it with dnsperf
# pinned to CPU 1 (-s 127.0.0.1, UDP, EDNS -e; -c 8 -q 100 keep the one-core
# server at ~99% CPU while dnsperf stays near 80% of its own core). The cases, all asking A questions in zone bench.example:
#
#   a  whoami
#   b  file: www.bench.example with 3 A records
#   c  gtm: the same name from one pool of 3 addresses, method all
#   d  gtm geo: 6 pools of 3 addresses with method weight (max-answers 2),
#      an instance with 340 CIDR rules (300 IPv4, 40 IPv6), subdivision,
#      country and continent rules, a generated GeoIP2 City database
#      (2,200 networks), an ECS option on every query (dnsperf -E; its
#      subnet reaches a country rule through the database), and live TCP
#      health probes (interval 1 s) of 18 loopback listeners the harness
#      runs (perfkit listen on 127.0.0.11-28). After each run it checks,
#      through gtm's explain query, that the probed addresses are healthy.
#   e  gtm: 1,000 instances over 10 pools; the queries cycle over all names.
#   f  gtm: 10 instances, each with its own pool of 2 addresses, one of them
#      TCP-probed (refused at once on a loopback address; interval 1h, so
#      only the first round runs); the queries cycle over all names.
#   g  gtm: the same at 100,000 instances (issue 9: QPS >= 0.8x case f).
#   h  gtm nearest: case d's shape for the nearest policy: 10 sites (pools
#      of 3 addresses, method weight, max-answers 2, each with a location),
#      the same 340 CIDR rules in front, the same database and ECS option
#      (every network at 50N 8E), the same probe listeners; each query
#      measures ten great-circle distances (issue 18: QPS >= 0.9x case d).
#      With --paired, the ratios h/d and h/a are reported too.
#
# Cases d, f and g are measured once gtm tells the ready plugin that every
# probed address has its first verdict: at 100,000 addresses the first
# probe round (spread over 10 s) is a transient of its own, not the query
# path. The time to the first right answer ("answering after") and to
# ready ("ready after") are printed per run.
#
# Per run: QPS, average latency and lost queries (dnsperf's report), the
# server's peak RSS (VmHWM from /proc at the end of the run), the server's
# CPU use over the measured seconds, dnsperf's CPU use (GNU time): a run in
# which dnsperf used more than 90% of its core is flagged, since the load
# generator may then be the bottleneck; and the CPU that other processes used
# meanwhile (/proc/stat less the server and dnsperf): above 10% of a core
# the run is flagged "machine busy", its numbers are suspect. It prints a
# table (medians over the rounds, ratios to whoami and file) and, unless
# --smoke, appends it with the date, commit, machine and command to
# bench/RESULTS.md.
#
# Needs go, dnsperf, taskset (util-linux) and GNU time (/usr/bin/time); as
# root it installs the missing ones with apt-get. All traffic stays on
# loopback; every server, listener and dnsperf is bounded in time and is
# stopped on exit, failure or interrupt, and the temporary directory removed.
set -euo pipefail

rounds=3 seconds=10 warmup=2 clients=8 outstanding=100 quiet_wait=60 smoke=0 only="" paired=0
command_line="bash bench/perf/run.sh${*:+ $*}"
for a in "$@"; do # --smoke sets the defaults; flags given explicitly still win
    if [ "$a" = --smoke ]; then rounds=1 seconds=2 warmup=0 quiet_wait=0 smoke=1; fi
done
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=${2:?}; shift 2 ;;
    --seconds) seconds=${2:?}; shift 2 ;;
    --warmup) warmup=${2:?}; shift 2 ;;
    --clients) clients=${2:?}; shift 2 ;;
    --outstanding) outstanding=${2:?}; shift 2 ;;
    --quiet-wait) quiet_wait=${2:?}; shift 2 ;;
    --cases) only=${2:?}; shift 2 ;;
    --paired) paired=1; shift ;;
    --smoke) shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
for v in rounds seconds clients outstanding; do
    if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then echo "run.sh: --$v must be a positive integer" >&2; exit 2; fi
done
for v in warmup quiet_wait; do
    if ! [[ ${!v} =~ ^[0-9]+$ ]]; then echo "run.sh: --${v/_/-} must be an integer" >&2; exit 2; fi
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
started=$SECONDS

# ---- tools
need=()
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v taskset >/dev/null || need+=(util-linux)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        timeout 300 apt-get update -qq
        timeout 300 apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "run.sh: missing ${need[*]} (apt-get install ${need[*]})" >&2
        exit 1
    fi
fi
if [ "$(nproc)" -lt 2 ]; then
    echo "run.sh: needs 2 CPUs (server on CPU 0, dnsperf on CPU 1); nproc is $(nproc)" >&2
    exit 1
fi

# ---- temporary directory and cleanup
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gtm-perf.XXXXXX")
pids=()
stop_pid() { # stop_pid PID: TERM, up to 5 s, then KILL
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do stop_pid "$pid"; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- build
echo "== building CoreDNS with gtm and bench/perf/perfkit"
go build -o "$tmp/coredns" ./cmd/coredns
go build -o "$tmp/perfkit" ./bench/perf/perfkit
pk=$tmp/perfkit

# ---- probe listeners for case d (bounded: exits by itself after the runs)
ncases=8
life=$((rounds * ncases * (seconds + warmup + 40) + 300))
"$pk" listen -first 127.0.0.11 -n 18 -for "${life}s" -portfile "$tmp/probe.port" &
pids+=($!)
for ((i = 0; i < 100; i++)); do
    [ -s "$tmp/probe.port" ] && break
    sleep 0.1
done
[ -s "$tmp/probe.port" ] || { echo "run.sh: probe listeners did not start" >&2; exit 1; }
probe_port=$(cat "$tmp/probe.port")

# ---- cases
"$pk" gen -dir "$tmp" -probe-port "$probe_port"
# shellcheck source=/dev/null
. "$tmp/geo.env" # ECS_SUBNET, ECS_OPTION, PROBED, CIDR_RULES
ids=(a b c d e f g h)
# The smoke run checks the harness; case g (100,000 instances, a GB of
# memory and half a minute to load) is for measuring, not for CI.
[ "$smoke" = 1 ] && ids=(a b c d e f h)
if [ -n "$only" ]; then
    # shellcheck disable=SC2206
    ids=($only)
fi
declare -A label corefile queries minans qname extra
label[a]="a whoami"
label[b]="b file, 3 A"
label[c]="c gtm all, 3 A"
label[d]="d gtm geo+weight+ECS+probes"
label[e]="e gtm 1,000 instances"
label[f]="f gtm 10 instances, 2 addresses each"
label[g]="g gtm 100,000 instances, 2 addresses each"
label[h]="h gtm nearest, 10 sites+ECS+probes"
corefile[a]=a-whoami.Corefile corefile[b]=b-file.Corefile corefile[c]=c-gtm-all.Corefile
corefile[d]=d-gtm-geo.Corefile corefile[e]=e-gtm-1k.Corefile
corefile[f]=f-gtm-10.Corefile corefile[g]=g-gtm-100k.Corefile corefile[h]=h-gtm-nearest.Corefile
for id in a b c d h; do queries[$id]=www.queries qname[$id]=www.bench.example; done
queries[e]=names1k.queries qname[e]=i0000.bench.example
queries[f]=names10.queries qname[f]=s000009.bench.example
queries[g]=names100k.queries qname[g]=s099999.bench.example
minans[a]=0 minans[b]=3 minans[c]=3 minans[d]=2 minans[e]=3 minans[f]=1 minans[g]=1 minans[h]=2 # whoami answers in the additional section
for id in "${ids[@]}"; do extra[$id]=""; done
extra[d]="-E $ECS_OPTION" extra[h]="-E $ECS_OPTION"

clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# busy ticks of the whole machine: user nice system irq softirq steal
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }

# wait_quiet: up to --quiet-wait seconds, until other processes use less
# than 15% of a core over one second (our probe listeners are idle here).
wait_quiet() {
    local deadline=$((SECONDS + quiet_wait)) b0 b1 pct
    while [ "$quiet_wait" -gt 0 ]; do
        b0=$(busy_ticks)
        sleep 1
        b1=$(busy_ticks)
        pct=$(((b1 - b0) * 100 / clk))
        [ "$pct" -lt 15 ] && return 0
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "  (machine still busy after ${quiet_wait}s: ${pct}% of a core; running anyway)"
            return 0
        fi
    done
}

results=$tmp/results.tsv
printf 'round\tcase\tlabel\tqps\tlatency_s\tsent\tcompleted\tlost\trss_kb\tlg_cpu_pct\tsrv_cpu_pct\tnoerror_pct\tprobes\tother_cpu_pct\n' >"$results"

dnsperf_cmd() { # dnsperf_cmd ID PORT SECONDS: the dnsperf command line
    local id=$1 port=$2 secs=$3
    # shellcheck disable=SC2206
    local e=(${extra[$id]})
    echo dnsperf -s 127.0.0.1 -p "$port" -d "$tmp/${queries[$id]}" -l "$secs" -c "$clients" -q "$outstanding" -t 2 -e "${e[@]}"
}

# start_server ID PORT READYPORT LOG LIFE: case ID's server on CPU 0, bounded
# to LIFE seconds; sets tpid to its timeout wrapper and spid to the server
# (taskset execs coredns, timeout's child), for the caller to stop and read.
start_server() {
    local id=$1 port=$2 rport=$3 log=$4 life=$5 i
    PERF_READY_PORT=$rport timeout --kill-after=5 "$life" \
        taskset -c 0 "$tmp/coredns" -conf "$tmp/${corefile[$id]}" -dns.port "$port" -quiet >"$log" 2>&1 &
    tpid=$!
    pids+=("$tpid")
    spid=""
    for ((i = 0; i < 50; i++)); do
        spid=$(awk '{print $1}' "/proc/$tpid/task/$tpid/children" 2>/dev/null) || true
        [ -n "$spid" ] && break
        sleep 0.02
    done
    [ -n "$spid" ] || { echo "run.sh: case $id: server did not start" >&2; cat "$log" >&2; exit 1; }
}

run_case() { # run_case ROUND ID
    local round=$1 id=$2 port rport tpid spid i log out tf subnet="" ready="" probes="-"
    wait_quiet
    port=$("$pk" port)
    rport=$("$pk" port)
    log=$tmp/server-$round-$id.log
    out=$tmp/dnsperf-$round-$id.txt
    tf=$tmp/time-$round-$id.txt
    local t_start
    t_start=$(date +%s.%N)
    # 100,000 instances take a while to load on one core: room for that.
    start_server "$id" "$port" "$rport" "$log" $((seconds + warmup + 150))
    case $id in d | h) subnet=$ECS_SUBNET ;; esac
    case $id in d | f | g | h) ready=http://127.0.0.1:$rport/ready ;; esac
    if ! "$pk" wait -addr "127.0.0.1:$port" -name "${qname[$id]}" -min "${minans[$id]}" \
        -subnet "$subnet" -timeout 120s; then
        echo "run.sh: case $id: server log:" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
    # From the server's start to its first right answer for the last name
    # of the configuration: loading, validating, compiling, starting checks.
    local answering readyafter=-
    answering=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
    # Cases with probes are measured once every probed address has its
    # first verdict (the ready plugin says so): the first round at 100,000
    # addresses is a transient of its own, not the query path.
    if [ -n "$ready" ]; then
        if ! "$pk" wait -addr "127.0.0.1:$port" -name "${qname[$id]}" -min "${minans[$id]}" \
            -subnet "$subnet" -ready "$ready" -timeout 120s; then
            echo "run.sh: case $id: not ready; server log:" >&2
            tail -n 30 "$log" >&2
            exit 1
        fi
        readyafter=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
    fi
    if [ "$warmup" -gt 0 ]; then
        # shellcheck disable=SC2046
        timeout $((warmup + 30)) taskset -c 1 $(dnsperf_cmd "$id" "$port" "$warmup") >/dev/null 2>&1
    fi
    local c0 c1 t0 t1 b0 b1
    c0=$(cpu_ticks "$spid")
    b0=$(busy_ticks)
    t0=$(date +%s.%N)
    # shellcheck disable=SC2046
    if ! timeout $((seconds + 30)) taskset -c 1 /usr/bin/time -o "$tf" -f '%e %U %S' \
        $(dnsperf_cmd "$id" "$port" "$seconds") >"$out" 2>&1; then
        echo "run.sh: case $id: dnsperf failed:" >&2
        cat "$out" >&2
        exit 1
    fi
    t1=$(date +%s.%N)
    b1=$(busy_ticks)
    c1=$(cpu_ticks "$spid")
    local rss
    rss=$(awk '/^VmHWM:/ {print $2}' "/proc/$spid/status")
    if [ "$id" = d ]; then
        probes=$("$pk" probes -addr "127.0.0.1:$port" -name "${qname[$id]}" -subnet "$ECS_SUBNET" -want 6) || {
            echo "run.sh: case d: health probes not all passing: $probes" >&2
            exit 1
        }
    fi
    stop_pid "$tpid"
    wait "$tpid" 2>/dev/null || true

    local qps lat sent completed lost noerr lg srv other
    qps=$(awk '/Queries per second:/ {print $4}' "$out")
    lat=$(awk '/Average Latency \(s\):/ {print $4}' "$out")
    sent=$(awk '/Queries sent:/ {print $3}' "$out")
    completed=$(awk '/Queries completed:/ {print $3}' "$out")
    lost=$(awk '/Queries lost:/ {print $3}' "$out")
    noerr=$(grep -o 'NOERROR [0-9]* ([0-9.]*%)' "$out" | sed 's/.*(\(.*\)%)/\1/') || true
    if [ -z "$qps" ] || [ -z "$completed" ]; then
        echo "run.sh: case $id: cannot parse dnsperf output:" >&2
        cat "$out" >&2
        exit 1
    fi
    lg=$(tail -n 1 "$tf" | awk '$1 > 0 {printf "%.1f", 100 * ($2 + $3) / $1}')
    srv=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v hz="$clk" 'BEGIN {printf "%.1f", 100 * (b - a) / hz / (t1 - t0)}')
    # CPU that neither the server nor dnsperf used meanwhile (other
    # processes on the machine, the kernel's own work), in % of one core.
    other=$(tail -n 1 "$tf" | awk -v a="$c0" -v b="$c1" -v ba="$b0" -v bb="$b1" -v t0="$t0" -v t1="$t1" -v hz="$clk" \
        '{o = ((bb - ba) - (b - a)) / hz - ($2 + $3); if (o < 0) o = 0; printf "%.1f", 100 * o / (t1 - t0)}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$id" "${label[$id]}" "$qps" "${lat:-0}" \
        "${sent:-0}" "$completed" "${lost:-0}" "${rss:-0}" "${lg:-0}" "$srv" "${noerr:-0}" "$probes" "${other:-0}" >>"$results"
    local pnote=""
    [ "$probes" = - ] || pnote="  probes $probes"
    printf '  round %d %-30s %7.0f qps %6.3f ms lost %s  rss %5.1f MiB  answering after %ss, ready after %ss  CPU: server %5.1f%% dnsperf %5.1f%% other %5.1f%%%s\n' \
        "$round" "${label[$id]}" "$qps" "$(awk -v l="${lat:-0}" 'BEGIN {print l * 1000}')" "${lost:-0}" \
        "$(awk -v r="${rss:-0}" 'BEGIN {print r / 1024}')" "$answering" "$readyafter" "$srv" "${lg:-0}" "${other:-0}" "$pnote"
}

# run_paired: every chosen server started once, then the cases in turn per
# round against the same servers (see --paired).
run_paired() {
    local id port rport tpid spid i ready subnet
    declare -A sport spidof
    for id in "${ids[@]}"; do
        port=$("$pk" port)
        rport=$("$pk" port)
        start_server "$id" "$port" "$rport" "$tmp/paired-$id.log" $((rounds * ${#ids[@]} * (seconds + 10) + 300))
        subnet="" ready=""
        case $id in d | h) subnet=$ECS_SUBNET ;; esac
        case $id in d | f | g | h) ready=http://127.0.0.1:$rport/ready ;; esac
        if ! "$pk" wait -addr "127.0.0.1:$port" -name "${qname[$id]}" -min "${minans[$id]}" \
            -subnet "$subnet" -ready "$ready" -timeout 120s; then
            echo "run.sh: case $id: server log:" >&2
            tail -n 30 "$tmp/paired-$id.log" >&2
            exit 1
        fi
        sport[$id]=$port spidof[$id]=$spid
    done
    echo "== paired: ${#ids[@]} servers up; $rounds round(s) x ${seconds}s per case (server CPU per query in µs)"
    local r c0 c1 out n q line
    for ((r = 1; r <= rounds; r++)); do
        wait_quiet
        line="  round $r"
        for id in "${ids[@]}"; do
            c0=$(cpu_ticks "${spidof[$id]}")
            # shellcheck disable=SC2046
            out=$(timeout $((seconds + 30)) taskset -c 1 $(dnsperf_cmd "$id" "${sport[$id]}" "$seconds") 2>&1) || { echo "$out" >&2; exit 1; }
            c1=$(cpu_ticks "${spidof[$id]}")
            n=$(echo "$out" | awk '/Queries completed/ {print $3}')
            q=$(echo "$out" | awk '/Queries per second/ {print $4}')
            [ -n "$n" ] && [ "$n" -gt 0 ] || { echo "run.sh: case $id answered nothing" >&2; exit 1; }
            printf '%s\t%s\t%s\t%s\n' "$r" "$id" "$q" "$(awk -v c=$((c1 - c0)) -v n="$n" -v hz="$clk" 'BEGIN {printf "%.2f", c / hz * 1e6 / n}')" >>"$tmp/paired.tsv"
            line="$line  $id $(printf '%.0f' "$q") qps $(tail -n 1 "$tmp/paired.tsv" | cut -f4) µs"
        done
        echo "$line"
    done
    echo
    echo "| ratio (same round) | per round (QPS) | median QPS ratio | median CPU-per-query ratio |"
    echo "|---|---|---:|---:|"
    local pair num den
    for pair in c/a d/a e/a g/f h/d h/a; do
        num=${pair%/*} den=${pair#*/}
        awk -F'\t' -v num="$num" -v den="$den" -v pair="$pair" '
            $2 == num {qn[$1] = $3; cn[$1] = $4}
            $2 == den {qd[$1] = $3; cd[$1] = $4}
            function median(a, k,   i, j, t) {
                for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) {t = a[i]; a[i] = a[j]; a[j] = t}
                return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
            }
            END {
                k = 0; s = ""
                for (r in qn) if (r in qd) {k++; rq[k] = qn[r] / qd[r]; rc[k] = cd[r] / cn[r]; s = s sprintf("%s%.2f", k > 1 ? " " : "", rq[k])}
                if (k) printf "| %s | %s | %.2f | %.2f |\n", pair, s, median(rq, k), median(rc, k)
            }' "$tmp/paired.tsv"
    done
}

if [ "$paired" = 1 ]; then
    run_paired
    exit 0
fi

echo "== $rounds round(s) x ${#ids[@]} cases, ${seconds}s each (+${warmup}s warm-up); server on CPU 0, dnsperf on CPU 1 (-c $clients -q $outstanding)"
echo "   case d: $CIDR_RULES CIDR rules, ECS $ECS_SUBNET, $PROBED TCP-probed addresses on 127.0.0.11+ port $probe_port"
for ((r = 1; r <= rounds; r++)); do
    for id in "${ids[@]}"; do
        run_case "$r" "$id"
    done
done

# ---- report
table_rc=0
"$pk" table -in "$results" >"$tmp/table.md" || table_rc=$?
[ -s "$tmp/table.md" ] || { echo "run.sh: no table" >&2; exit 1; }
elapsed=$((SECONDS - started))
echo
cat "$tmp/table.md"
echo
echo "harness took ${elapsed}s"
if [ "$table_rc" != 0 ]; then
    echo "run.sh: a case answered no queries" >&2
    exit 1
fi
if [ "$smoke" = 1 ]; then
    echo "smoke run: harness works (results not recorded)"
    exit 0
fi

out=bench/RESULTS.md
if [ ! -f "$out" ]; then
    cat >"$out" <<'EOF'
# Benchmark results

Appended by `bench/perf/run.sh` (see its header for the cases and how they are measured): a real
CoreDNS with gtm beside CoreDNS's whoami and file plugins, server on CPU 0, dnsperf on CPU 1, over
loopback. QPS and latency are medians over the rounds; peak RSS is the largest VmHWM of any round.
EOF
fi
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null | head -n 1)" ]; then commit="$commit (working tree had uncommitted changes)"; fi
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
{
    echo
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit"
    echo
    echo "- machine: $(nproc) CPUs, ${cpu:-unknown CPU}, $(uname -sr), $(go env GOVERSION), $(dnsperf -h 2>&1 | awk '/^Version/ {print "dnsperf " $2}')"
    echo "- command: \`$command_line\` ($rounds rounds x ${seconds} s per case, ${warmup} s warm-up, dnsperf -c $clients -q $outstanding; took ${elapsed} s)"
    echo "- case d: $CIDR_RULES CIDR rules, ECS $ECS_SUBNET (a country rule via the City database), $PROBED TCP-probed addresses"
    echo
    cat "$tmp/table.md"
} >>"$out"
echo "appended to $out"
