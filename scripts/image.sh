#!/usr/bin/env bash
# image.sh builds gtm's CoreDNS binary (static, -trimpath, stamped with gtm's
# module version and VCS revision) and then the container image from the
# Dockerfile at the repository root, with podman or docker, whichever is
# installed (CONTAINER_TOOL picks one). It tags localhost/gtm:latest and
# localhost/gtm:VERSION, and prints the VERSION tag last.
#
# Usage: scripts/image.sh [--binary FILE] [BUILD OPTIONS...]
#   --binary FILE  only build the binary, into FILE
#   BUILD OPTIONS  passed to "podman build" ("--build-arg BASE=...")
#
# The binary is built from a git checkout so that Go records the revision: in
# a git worktree (where the toolchain records none) HEAD is cloned into a
# temporary directory first, and a worktree with uncommitted changes is
# refused. Needs go, git, setcap (libcap2-bin) and /etc/ssl/certs/ca-certificates.crt.
set -euo pipefail

fail() {
	printf 'image.sh: %s\n' "$*" >&2
	exit 1
}
say() { printf 'image.sh: %s\n' "$*" >&2; }

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
binary_only=""
if [[ ${1:-} == --binary ]]; then
	[[ $# -ge 2 ]] || fail "--binary needs a file"
	binary_only=$(realpath -m "$2")
	shift 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gtm-image.XXXXXX")
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

# --- the source: a checkout Go can read the revision from -----------------
src=$repo
if [[ -f $repo/.git ]]; then
	# A worktree's .git is a file; cmd/go only stamps VCS information in a
	# directory with a .git directory.
	[[ -z $(git -C "$repo" status --porcelain --untracked-files=no) ]] ||
		fail "$repo is a git worktree with uncommitted changes: commit them, or build from a clone"
	rev=$(git -C "$repo" rev-parse HEAD)
	say "git worktree: building $rev from a clone"
	git clone -q --no-checkout "$repo" "$tmp/src"
	git -C "$tmp/src" checkout -q --detach "$rev"
	src=$tmp/src
fi

# --- the binary ----------------------------------------------------------
out=${binary_only:-$tmp/ctx/coredns}
mkdir -p "$(dirname "$out")"
# Reproducible: no paths (-trimpath), no cgo, no timestamps or build IDs
# injected; the version and revision are the toolchain's VCS stamp.
(cd "$src" && CGO_ENABLED=0 go build -buildvcs=true -trimpath -ldflags='-s -w' -o "$out" ./cmd/coredns) ||
	fail "go build"
version=$(go version -m "$out" | awk '$1 == "mod" && $2 == "github.com/gtm-project/gtm" { print $3 }')
revision=$(go version -m "$out" | sed -n 's/^[[:space:]]*build[[:space:]]*vcs.revision=//p')
[[ -n $version && -n $revision ]] || fail "the binary records no gtm version or revision (go version -m $out)"
say "built $out: gtm $version, revision $revision"
if [[ -n $binary_only ]]; then
	exit 0
fi

# --- the context ---------------------------------------------------------
ctx=$tmp/ctx
command -v setcap >/dev/null || fail "setcap not found (Debian: apt-get install libcap2-bin)"
# Port 53 with NET_BIND_SERVICE alone: the capability is in the binary's
# permitted and effective sets, granted when the container's bounding set
# holds it (--cap-add NET_BIND_SERVICE; Kubernetes: capabilities.add).
setcap cap_net_bind_service=+ep "$ctx/coredns"
mkdir -p "$ctx/etc/coredns" "$ctx/etc/ssl/certs" "$ctx/var/lib" "$ctx/state"
ca=/etc/ssl/certs/ca-certificates.crt
[[ -s $ca ]] || fail "no CA bundle at $ca (Debian: apt-get install ca-certificates)"
cp "$ca" "$ctx/etc/ssl/certs/ca-certificates.crt"
cp "$repo/deploy/image/Corefile" "$ctx/etc/coredns/Corefile"
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'nonroot:x:65532:65532:nonroot:/var/lib/gtm:/sbin/nologin' >"$ctx/etc/passwd"
printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >"$ctx/etc/group"
cp "$repo/Dockerfile" "$ctx/Dockerfile"

# --- the image -----------------------------------------------------------
tool=${CONTAINER_TOOL:-}
if [[ -z $tool ]]; then
	for t in podman docker; do
		if command -v "$t" >/dev/null; then
			tool=$t
			break
		fi
	done
fi
[[ -n $tool ]] || fail "neither podman nor docker is installed"
tag=${version//+/-} # "+dirty" is not allowed in a tag
"$tool" build -q -f "$ctx/Dockerfile" \
	--build-arg VERSION="$version" --build-arg REVISION="$revision" \
	-t localhost/gtm:latest -t "localhost/gtm:$tag" "$@" "$ctx" >/dev/null ||
	fail "$tool build"
say "tagged localhost/gtm:latest and localhost/gtm:$tag"
echo "localhost/gtm:$tag"
