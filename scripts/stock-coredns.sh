#!/usr/bin/env bash
# stock-coredns.sh proves the "stock CoreDNS route": an operator takes the
# CoreDNS source at the version this repo requires, adds
#
#     gtm:github.com/gtm-project/gtm
#
# to plugin.cfg right before cache:cache, runs `go generate` and builds. The
# resulting binary must list dns.gtm and answer a gtm zone on 127.0.0.1.
#
# Everything happens in a temporary directory that is removed on exit. Only
# the Go module proxy (for downloads) and 127.0.0.1 (for the DNS test) are
# contacted. GOFLAGS, GOPROXY and the other go env settings are passed through
# untouched. A cold build takes several minutes.
#
# Usage: scripts/stock-coredns.sh
set -euo pipefail

say() { printf '%s\n' "stock-coredns: $*"; }
pass() { printf '%s\n' "PASS: $*"; }
fail() {
	printf '%s\n' "FAIL: $*" >&2
	exit 1
}

for tool in go dig python3; do
	command -v "$tool" >/dev/null 2>&1 || fail "required tool '$tool' not found in PATH"
done

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ -f "$repo_root/go.mod" ]] || fail "no go.mod in repo root $repo_root"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/stock-coredns.XXXXXX")
server_pid=""
cleanup() {
	local rc=$?
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	# The module cache copies nothing read-only into tmp after chmod, but be
	# safe in case we failed before the chmod.
	chmod -R u+w "$tmp" 2>/dev/null || true
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A go.work somewhere above the temp dir (or set in the environment) must not
# leak into the CoreDNS copy.
export GOWORK=off

say "repo root: $repo_root"
say "GOFLAGS=${GOFLAGS:-<unset>}"
goversion=$(go version) || fail "go version failed (check GOFLAGS / GOTOOLCHAIN)"
say "$goversion"

# --- 1. CoreDNS source at the version the repo requires -------------------
version=$(cd "$repo_root" && go list -m -f '{{.Version}}' github.com/coredns/coredns) ||
	fail "cannot read the CoreDNS version from $repo_root/go.mod"
[[ -n "$version" ]] || fail "empty CoreDNS version in $repo_root/go.mod"
say "CoreDNS version required by go.mod: $version"

(cd "$tmp" && go mod download github.com/coredns/coredns@"$version") ||
	fail "go mod download github.com/coredns/coredns@$version"
moddir=$(cd "$tmp" && go mod download -json github.com/coredns/coredns@"$version" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') ||
	fail "cannot locate github.com/coredns/coredns@$version in the module cache"
[[ -f "$moddir/plugin.cfg" && -f "$moddir/coredns.go" ]] ||
	fail "$moddir does not look like the CoreDNS source"

src="$tmp/coredns"
cp -r "$moddir" "$src"
chmod -R u+w "$src"
pass "copied CoreDNS $version source from $moddir"

# --- 2. plugin.cfg: gtm right before cache ---------------------------------
cfg="$src/plugin.cfg"
gtm_line='gtm:github.com/gtm-project/gtm'
n=$(grep -cx 'cache:cache' "$cfg" || true)
[[ "$n" == 1 ]] || fail "expected exactly one 'cache:cache' line in plugin.cfg, found ${n:-0}"
grep -q '^gtm:' "$cfg" && fail "plugin.cfg of CoreDNS $version already has a gtm line"
awk -v line="$gtm_line" '$0 == "cache:cache" { print line } { print }' "$cfg" >"$tmp/plugin.cfg.new"
mv "$tmp/plugin.cfg.new" "$cfg"
before=$(grep -B1 -x 'cache:cache' "$cfg" | head -n1)
[[ "$before" == "$gtm_line" ]] ||
	fail "plugin.cfg: line before cache:cache is '$before', want '$gtm_line'"
pass "plugin.cfg has '$gtm_line' immediately before 'cache:cache'"

# --- 3. require + replace, generate, tidy, build ---------------------------
(
	cd "$src"
	go mod edit \
		-require=github.com/gtm-project/gtm@v0.0.0 \
		-replace=github.com/gtm-project/gtm="$repo_root"
) || fail "go mod edit"
pass "go.mod requires github.com/gtm-project/gtm@v0.0.0 => $repo_root"

say "go generate coredns.go"
(cd "$src" && go generate coredns.go) || fail "go generate coredns.go"

zdir="$src/core/dnsserver/zdirectives.go"
zplug="$src/core/plugin/zplugin.go"
grep -q '_ "github.com/gtm-project/gtm"' "$zplug" ||
	fail "$zplug does not import github.com/gtm-project/gtm"
# The Directives slice has one quoted name per line; take them in order.
directives=$(sed -n 's/^[[:space:]]*"\([a-z0-9_]*\)",[[:space:]]*$/\1/p' "$zdir")
after_gtm=$(printf '%s\n' "$directives" | grep -A1 -x 'gtm' | sed -n 2p)
[[ "$after_gtm" == cache ]] ||
	fail "zdirectives.go: directive after gtm is '${after_gtm:-<none>}', want 'cache'"
pass "generated zdirectives.go lists \"gtm\" right before \"cache\"; zplugin.go imports gtm"

# Tidy only when the module graph is not already consistent. With gtm's
# go.mod declaring a newer `go` line than CoreDNS's (e.g. 1.26.8 vs 1.26.0)
# the go command reports "updates to go.mod needed" and tidy raises the line;
# gtm's requirements may also raise shared dependencies (MVS), which needs
# new go.sum entries. Tidy also fetches CoreDNS's test-only modules.
if (cd "$src" && go list -deps . >/dev/null 2>"$tmp/golist.err"); then
	say "module graph consistent; go mod tidy not needed"
else
	say "go list: $(head -n1 "$tmp/golist.err")"
	say "go mod tidy"
	(cd "$src" && go mod tidy) || fail "go mod tidy"
	(cd "$src" && go list -deps . >/dev/null) || fail "module graph still inconsistent after go mod tidy"
	pass "go mod tidy (go line now $(cd "$src" && go mod edit -json | python3 -c 'import json,sys; print(json.load(sys.stdin)["Go"])'))"
fi

say "go build (a cold build of CoreDNS takes several minutes)"
bin="$tmp/coredns-gtm"
build_start=$SECONDS
(cd "$src" && go build -o "$bin" .) || fail "go build of CoreDNS $version with gtm"
pass "built $bin in $((SECONDS - build_start))s"

# --- 4. run it --------------------------------------------------------------
# caddy registers the plugin as "dns.gtm". Older caddy printed that full name
# under "Other plugins:"; github.com/coredns/caddy v1.1.4 (used by CoreDNS
# v1.15.0) prints one bare name per line with the "dns." prefix dropped. Accept
# either form of exactly this plugin.
plugins=$("$bin" -plugins) || fail "coredns -plugins failed"
grep -qE '^[[:space:]]*(dns\.)?gtm[[:space:]]*$' <<<"$plugins" ||
	fail "coredns -plugins does not list dns.gtm; got:
$plugins"
pass "coredns -plugins lists dns.gtm (printed as '$(grep -E '^[[:space:]]*(dns\.)?gtm[[:space:]]*$' <<<"$plugins" | tr -d '[:space:]')')"

port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
corefile="$tmp/Corefile"
cat >"$corefile" <<EOF
gtm.example.org:$port {
    bind 127.0.0.1
    gtm {
        ns ns1.gtm.example.org 192.0.2.53
        pool site-a {
            address 192.0.2.10
        }
        instance www {
            primary site-a
        }
    }
    cache 10
}
EOF

log="$tmp/coredns.log"
say "starting CoreDNS on 127.0.0.1:$port"
(cd "$tmp" && exec "$bin" -conf "$corefile") >"$log" 2>&1 &
server_pid=$!

want=192.0.2.10
got=""
for _ in $(seq 1 50); do # up to ~10 s (plus dig's own 1 s timeouts)
	if ! kill -0 "$server_pid" 2>/dev/null; then
		cat "$log" >&2 || true
		fail "CoreDNS exited before answering (log above)"
	fi
	got=$(dig @127.0.0.1 -p "$port" +short +tries=1 +time=1 www.gtm.example.org A 2>/dev/null || true)
	[[ "$got" == "$want" ]] && break
	sleep 0.2
done
if [[ "$got" != "$want" ]]; then
	cat "$log" >&2 || true
	fail "dig www.gtm.example.org A @127.0.0.1:$port answered '${got:-<nothing>}', want '$want'"
fi
pass "dig www.gtm.example.org A @127.0.0.1:$port -> $got"

kill "$server_pid" 2>/dev/null || true
for _ in $(seq 1 50); do
	kill -0 "$server_pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$server_pid" 2>/dev/null; then
	kill -9 "$server_pid" 2>/dev/null || true
fi
wait "$server_pid" 2>/dev/null || true
server_pid=""

pass "stock CoreDNS $version + gtm via plugin.cfg builds and serves (total ${SECONDS}s)"
