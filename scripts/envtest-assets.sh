#!/usr/bin/env bash
# Provides kube-apiserver, etcd and kube-controller-manager for the real-cluster tests and
# prints the folder that holds them (the controller-runtime KUBEBUILDER_ASSETS convention).
#
#  * KUBEBUILDER_ASSETS set and complete  -> used as it is (e.g. from setup-envtest).
#  * otherwise the cache folder (FT_ENVTEST_CACHE, default ~/.cache/ft-operator/envtest/1.20.2)
#    is used when complete, or built once from Debian bookworm's `kubernetes` source package
#    (see ../shared/design/environment.md for why each fix is needed).
#
# Usage: scripts/envtest-assets.sh        # prints the assets folder on stdout, logs on stderr
set -euo pipefail

K8S_VERSION=1.20.2
have_all() {
  [ -x "$1/kube-apiserver" ] && [ -x "$1/etcd" ] && [ -x "$1/kube-controller-manager" ]
}
log() { echo "[envtest-assets] $*" >&2; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && have_all "$KUBEBUILDER_ASSETS"; then
  echo "$KUBEBUILDER_ASSETS"; exit 0
fi

CACHE="${FT_ENVTEST_CACHE:-$HOME/.cache/ft-operator/envtest/$K8S_VERSION}"
if have_all "$CACHE"; then echo "$CACHE"; exit 0; fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if have_all "$CACHE"; then echo "$CACHE"; exit 0; fi

need_pkgs=()
command -v go >/dev/null || need_pkgs+=(golang-go)
command -v etcd >/dev/null || need_pkgs+=(etcd-server)
command -v rsync >/dev/null || need_pkgs+=(rsync)
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v dpkg-source >/dev/null || need_pkgs+=(dpkg-dev)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >&2
fi

WORK="$CACHE/.build"
rm -rf "$WORK"; mkdir -p "$WORK/lists/partial" "$WORK/src"
cd "$WORK"
echo "deb-src http://deb.debian.org/debian bookworm main" > sources.list
APT_OPTS=(-o "Dir::Etc::SourceList=$WORK/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$WORK/lists")
log "fetching Debian's kubernetes source package"
apt-get "${APT_OPTS[@]}" update -qq >&2
(cd src && apt-get "${APT_OPTS[@]}" source --download-only kubernetes >&2 \
   && dpkg-source -x kubernetes_*.dsc tree >&2)
TREE="$WORK/src/tree"

# Fix 1: reflect2 v1.0.1 panics under Go >= 1.18; take Debian's 1.0.2 files instead.
log "replacing vendored reflect2 with golang-github-modern-go-reflect2-dev"
mkdir -p "$WORK/reflect2"
(cd "$WORK/reflect2" && apt-get download golang-github-modern-go-reflect2-dev >&2 \
   && dpkg-deb -x ./*.deb x)
R2_SRC=$(dirname "$(find "$WORK/reflect2/x" -name reflect2.go | head -n1)")
R2_DST="$TREE/vendor/github.com/modern-go/reflect2"
find "$R2_DST" -maxdepth 1 \( -name '*.go' -o -name '*.s' \) -delete
cp "$R2_SRC"/*.go "$R2_DST"/
cp "$R2_SRC"/*.s "$R2_DST"/ 2>/dev/null || true
rm -f "$R2_DST"/*_test.go

# GOPATH mode, as Debian builds it.
export GOPATH="$WORK/gopath" GO111MODULE=off CGO_ENABLED=0 GOFLAGS=-mod=vendor
export GOCACHE="${GOCACHE:-$HOME/.cache/go-build}"
unset GOFLAGS
mkdir -p "$GOPATH/src/k8s.io"
ln -s "$TREE" "$GOPATH/src/k8s.io/kubernetes"
cd "$GOPATH/src/k8s.io/kubernetes"

# Fix 2: the generated OpenAPI file is not in the tarball.
log "generating OpenAPI definitions"
make gen_openapi >&2

LDFLAGS="-s -w -X k8s.io/kubernetes/vendor/k8s.io/component-base/version.gitVersion=v$K8S_VERSION \
 -X k8s.io/kubernetes/vendor/k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/kubernetes/vendor/k8s.io/component-base/version.gitMinor=20 \
 -X k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION \
 -X k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version.gitMajor=1 \
 -X k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version.gitMinor=20"
for cmd in kube-apiserver kube-controller-manager; do
  log "building $cmd (several minutes)"
  go build -trimpath -ldflags "$LDFLAGS" -o "$CACHE/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" >&2
  mv "$CACHE/$cmd.tmp" "$CACHE/$cmd"
done
ln -sf "$(command -v etcd)" "$CACHE/etcd"
cd "$CACHE" && rm -rf "$WORK"
log "built into $CACHE"
echo "$CACHE"
