#!/usr/bin/env bash
# scripts/cluster-demo.sh - a gtm cluster on one machine, to watch a change
# propagate and a quorum decide: 3 etcd members and 4 gtm nodes (CoreDNS
# processes: 3 probing, 1 resolution-only), all on 127.0.0.1, sharing
# configuration and health through etcd.
#
#   bash scripts/cluster-demo.sh           # start, print what to try, run until Ctrl-C
#   bash scripts/cluster-demo.sh --check   # do the walkthrough itself, exit 0 or 1
#
# It builds CoreDNS with gtm (./cmd/coredns), etcd 3.7.2 from gtm's module
# graph (./internal/cmd/etcd) and the demo's health-check backend
# (./scripts/demo-backend) into a temporary directory, which also holds the
# etcd data, the Corefiles and the logs, and is removed on exit. Nodes n1-n3
# probe pool 'main' (127.0.0.31 and 127.0.0.32) over HTTP on the backend,
# each on its own path (/n1, /n2, /n3), so you decide what each node sees;
# n4 is 'probe off' and answers from their verdicts.
# Needs go, curl and dig. Nothing listens beyond loopback; Ctrl-C (or the
# end of --check) stops everything it started.
set -euo pipefail
check=0
case "${1:-}" in
--check) check=1 ;;
"") ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
for c in go curl dig; do
    command -v "$c" >/dev/null || { echo "cluster-demo: needs $c" >&2; exit 1; }
done
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gtm-cluster-demo.XXXXXX")
pids=()      # etcd members and the backend
node_pids=() # gtm nodes
# stop PID...: SIGTERM, then SIGKILL whatever has not ended within 10 s.
stop() {
    [ $# -gt 0 ] || return 0
    kill "$@" 2>/dev/null || true
    for _ in $(seq 1 100); do
        local alive=0
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    kill -9 "$@" 2>/dev/null || true
    for p in "$@"; do wait "$p" 2>/dev/null || true; done
}
cleanup() {
    trap '' INT TERM # a second Ctrl-C does not cut the clean-up short
    # Only the processes this script started, by their ids: the nodes
    # first, while etcd still answers (they revoke their leases), then
    # etcd and the backend.
    stop "${node_pids[@]}"
    stop "${pids[@]}"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building coredns, etcd and the demo backend into $tmp ..."
go build -o "$tmp/coredns" ./cmd/coredns
go build -o "$tmp/etcd" ./internal/cmd/etcd
go build -o "$tmp/demo-backend" ./scripts/demo-backend

# Free ports: 6 for etcd (client, peer) ×3, 3 per node (DNS, API, ready)
# ×4, the backend's and its control's.
read -r -a port <<<"$("$tmp/demo-backend" -ports 20)"
etcd_client=("${port[0]}" "${port[2]}" "${port[4]}")
etcd_peer=("${port[1]}" "${port[3]}" "${port[5]}")
dns=("${port[6]}" "${port[9]}" "${port[12]}" "${port[15]}")
api=("${port[7]}" "${port[10]}" "${port[13]}" "${port[16]}")
ready=("${port[8]}" "${port[11]}" "${port[14]}" "${port[17]}")
backend=${port[18]}
control=127.0.0.1:${port[19]}

initial=""
endpoints=""
for i in 0 1 2; do
    initial+="${initial:+,}m$((i + 1))=http://127.0.0.1:${etcd_peer[$i]}"
    endpoints+="${endpoints:+ }http://127.0.0.1:${etcd_client[$i]}"
done
# etcd and the nodes run in sessions of their own (setsid), so that a
# Ctrl-C in the terminal reaches the script alone, which stops the nodes
# first (SIGTERM: they end at once, revoking their leases while etcd still
# answers), then etcd.
detach=()
command -v setsid >/dev/null && detach=(setsid)
for i in 0 1 2; do
    c=http://127.0.0.1:${etcd_client[$i]} p=http://127.0.0.1:${etcd_peer[$i]}
    "${detach[@]}" "$tmp/etcd" --name "m$((i + 1))" --data-dir "$tmp/etcd-m$((i + 1))" \
        --listen-client-urls "$c" --advertise-client-urls "$c" \
        --listen-peer-urls "$p" --initial-advertise-peer-urls "$p" \
        --initial-cluster "$initial" --initial-cluster-token gtm-demo \
        --initial-cluster-state new --log-level warn >"$tmp/etcd-m$((i + 1)).log" 2>&1 &
    pids+=($!)
done
"$tmp/demo-backend" -addrs 127.0.0.31,127.0.0.32 -port "$backend" -control "$control" >"$tmp/backend.log" 2>&1 &
pids+=($!)

# waitfor TRIES CMD...: run CMD every 0.2 s until it succeeds, at most TRIES times.
waitfor() {
    local n=$1
    shift
    for _ in $(seq 1 "$n"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    return 1
}
for i in 0 1 2; do
    waitfor 150 curl -sf "http://127.0.0.1:${etcd_client[$i]}/health" ||
        { echo "etcd m$((i + 1)) not healthy within 30 s:" >&2; tail -n 20 "$tmp/etcd-m$((i + 1)).log" >&2; exit 1; }
done
echo "etcd: 3 members, clients on $endpoints"

vantages=("eu-west EU DE" "us-east NA US" "ap-south AS SG" "eu-central EU DE")
for i in 0 1 2 3; do
    n=n$((i + 1))
    probe=on
    [ "$i" = 3 ] && probe=off # resolution-only: answers from n1-n3's verdicts
    cat >"$tmp/Corefile.$n" <<EOF
example.org:${dns[$i]} {
	bind 127.0.0.1
	ready 127.0.0.1:${ready[$i]}
	gtm {
		ns ns1.example.org 127.0.0.53
		monitor web {
			protocol http
			port $backend
			path /$n
			interval 1s
			timeout 500ms
			rise 2
			fall 2
		}
		pool main {
			monitor web
			address 127.0.0.31 127.0.0.32
		}
		instance www {
			ttl 5
			primary main
		}
		api 127.0.0.1:${api[$i]} {
			node $n
			vantage ${vantages[$i]}
			probe $probe
			quorum 50%
			grace 10s
			store etcd $endpoints {
				prefix /gtm-demo/
			}
		}
	}
}
EOF
    "${detach[@]}" "$tmp/coredns" -conf "$tmp/Corefile.$n" -quiet >"$tmp/coredns.$n.log" 2>&1 &
    node_pids+=($!)
done
for i in 0 1 2 3; do
    waitfor 150 curl -sf "http://127.0.0.1:${ready[$i]}/ready" ||
        { echo "node n$((i + 1)) not ready within 30 s:" >&2; tail -n 20 "$tmp/coredns.n$((i + 1)).log" >&2; exit 1; }
done

# answers I NAME: node I's A records for NAME, sorted, on one line.
answers() { dig +short +time=1 +tries=1 -p "${dns[$1]}" @127.0.0.1 "$2" A | sort | xargs; }

cat <<EOF

gtm cluster running: 3 etcd members, 4 gtm nodes (n1-n3 probing 127.0.0.31 and .32, each on its
own path; n4 probes nothing and answers from their verdicts).

  node  DNS              API                    vantage
  n1    127.0.0.1:${dns[0]}  http://127.0.0.1:${api[0]}  ${vantages[0]}
  n2    127.0.0.1:${dns[1]}  http://127.0.0.1:${api[1]}  ${vantages[1]}
  n3    127.0.0.1:${dns[2]}  http://127.0.0.1:${api[2]}  ${vantages[2]}
  n4    127.0.0.1:${dns[3]}  http://127.0.0.1:${api[3]}  ${vantages[3]} (probe off)

Things to try (in another terminal):

  # every node answers both addresses
  for p in ${dns[*]}; do dig +short -p \$p @127.0.0.1 www.example.org; done

  # a change through n1's API ...
  curl -s -X POST http://127.0.0.1:${api[0]}/api/v1/pools -H 'Content-Type: application/json' \\
       -d '{"name":"demo","addresses":[{"address":"127.0.0.41"}]}'
  curl -s -X PUT http://127.0.0.1:${api[0]}/api/v1/instances/demo.example.org -H 'Content-Type: application/json' \\
       -d '{"ttl":5,"rules":[{"match":"default","primary":{"pools":[{"pool":"demo"}]}}]}'
  # ... answered by all four, and the in-sync report says so
  for p in ${dns[*]}; do dig +short -p \$p @127.0.0.1 demo.example.org; done
  curl -s http://127.0.0.1:${api[2]}/api/v1/cluster

  # 127.0.0.32 down for n1 only: 1 of 3 probing nodes is not a quorum, every node keeps it
  curl -X PUT http://$control/down/127.0.0.32/n1
  # down for n2 as well: 2 of 3 (50% quorum), within about 3 s every node drops it, n4 too
  curl -X PUT http://$control/down/127.0.0.32/n2
  curl -s http://127.0.0.1:${api[0]}/api/v1/status      # store.cluster: votes, down, leader
  curl -s 'http://127.0.0.1:${api[0]}/api/v1/events?address=127.0.0.32'   # recorded once
  # and back
  curl -X DELETE http://$control/down/127.0.0.32/n1; curl -X DELETE http://$control/down/127.0.0.32/n2

Logs and Corefiles: $tmp (removed on exit).
EOF

if [ "$check" = 0 ]; then
    echo "Ctrl-C stops everything."
    # Until Ctrl-C, or until one of the processes ends.
    wait -n "${pids[@]}" "${node_pids[@]}" || true
    echo "a process of the demo ended; stopping the rest (logs below)" >&2
    tail -n 5 "$tmp"/*.log >&2
    exit 1
fi

# --check: the walkthrough above, done and verified.
fail() { echo "check: FAILED: $*" >&2; for f in "$tmp"/coredns.n*.log; do echo "== $f" >&2; tail -n 20 "$f" >&2; done; exit 1; }
# expect I NAME WANT TRIES: node I answers NAME with WANT within TRIES × 0.1 s.
expect() {
    local got=""
    for _ in $(seq 1 "$4"); do
        got=$(answers "$1" "$2")
        [ "$got" = "$3" ] && return 0
        sleep 0.1
    done
    fail "n$(($1 + 1)) answered $2 with '$got', want '$3'"
}
for i in 0 1 2 3; do expect "$i" www.example.org "127.0.0.31 127.0.0.32" 50; done
echo "check: every node answers www with both addresses"
curl -sf "http://127.0.0.1:${api[3]}/api/v1/status" | grep -Eq '"probe": ?false' ||
    fail "n4's status does not say probe false: $(curl -s "http://127.0.0.1:${api[3]}/api/v1/status" | head -c 600)"
echo "check: n4 is resolution-only"

json='Content-Type: application/json'
curl -sf -X POST "http://127.0.0.1:${api[0]}/api/v1/pools" -H "$json" \
    -d '{"name":"demo","addresses":[{"address":"127.0.0.41"}]}' >/dev/null || fail "creating pool demo through n1"
curl -sf -X PUT "http://127.0.0.1:${api[0]}/api/v1/instances/demo.example.org" -H "$json" \
    -d '{"ttl":5,"rules":[{"match":"default","primary":{"pools":[{"pool":"demo"}]}}]}' >/dev/null || fail "creating instance demo through n1"
for i in 0 1 2 3; do expect "$i" demo.example.org 127.0.0.41 50; done
echo "check: a change through n1 is answered by all four"
insync=0
for _ in $(seq 1 50); do
    if curl -sf "http://127.0.0.1:${api[2]}/api/v1/cluster" | grep -Eq '"status": ?"insync"'; then insync=1; break; fi
    sleep 0.1
done
[ "$insync" = 1 ] || fail "GET /api/v1/cluster on n3 never said insync: $(curl -s "http://127.0.0.1:${api[2]}/api/v1/cluster")"
echo "check: the in-sync report says insync"

curl -sf -X PUT "http://$control/down/127.0.0.32/n1" >/dev/null || fail "backend control"
# Past n1's verdict (interval 1 s × fall 2) and a second more: still both.
for _ in $(seq 1 8); do
    for i in 0 1 2 3; do
        got=$(answers "$i" www.example.org)
        [ "$got" = "127.0.0.31 127.0.0.32" ] || fail "with 127.0.0.32 down for n1 alone, n$((i + 1)) answered '$got'"
    done
    sleep 0.5
done
echo "check: 127.0.0.32 down for 1 of 3 nodes: every node still answers it"
curl -sf -X PUT "http://$control/down/127.0.0.32/n2" >/dev/null || fail "backend control"
for i in 0 1 2 3; do expect "$i" www.example.org 127.0.0.31 60; done
echo "check: down for 2 of 3 probing nodes: every node answers without it, n4 too"
curl -sf -X DELETE "http://$control/down/127.0.0.32/n1" >/dev/null || fail "backend control"
curl -sf -X DELETE "http://$control/down/127.0.0.32/n2" >/dev/null || fail "backend control"
for i in 0 1 2 3; do expect "$i" www.example.org "127.0.0.31 127.0.0.32" 80; done
echo "check: up again for all: every node answers it again"
echo "check: ok"
