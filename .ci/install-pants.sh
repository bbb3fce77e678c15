#!/usr/bin/env bash
# Install a real Pants for the Pants builder's tests and benchmark, offline except for PyPI.
#
# Follows shared/reference/pants.md: Pants 2.17.1 (the last release on PyPI; its wheels are
# CPython 3.7-3.9 only) in a venv, and the pex CLI that Pants would download from GitHub built
# locally from PyPI's `pex` instead. Everything lives in .ci/.pants/ (or $LAKEFLOW_PANTS_HOME):
#
#   venv/                  Pants and its dependencies (~280 MB)
#   pex-v2.1.137.pex       the pex CLI Pants runs, built from PyPI
#   cache/                 Pants' lmdb store and named caches, shared by every test repo (~120 MB)
#   bin/pants              the `pants` command tests use: this machine's settings, then the venv's Pants
#
# Idempotent: a second run only rewrites bin/pants. Prints the path of bin/pants on stdout.
# Exit 2 (with a message) when no CPython 3.7-3.9 exists: the tests then skip, saying why.
set -euo pipefail
cd "$(dirname "$0")"

PANTS_VERSION=2.17.1
PEX_VERSION=2.1.137          # what Pants 2.17.1 expects ([pex-cli].version)
PEX_SHA256=05f739a34f24bfa6d6f5f13f76e07048baf208b9892036630ff7fb73a9bb53b7
PEX_SIZE=4098296
HOME_DIR=${LAKEFLOW_PANTS_HOME:-$PWD/.pants}
mkdir -p "$HOME_DIR"
HOME_DIR=$(cd "$HOME_DIR" && pwd)
# Keep git, and tools that honour .gitignore (ruff scans the tree), out of Pants' Python code.
echo '*' >"$HOME_DIR/.gitignore"
VENV=$HOME_DIR/venv
PEX_PEX=$HOME_DIR/pex-v$PEX_VERSION.pex

log() { echo "[install-pants $(date +%T)] $*" >&2; }
# This machine's pip warns about absent local extra-index directories on every call.
quiet_pip() { "$@" 2> >(grep -v 'is ignored' >&2); }

find_python() {
  local c root minor candidates=("${PANTS_PYTHON:-}" python3.9 python3.8 python3.7)
  # pyenv's own builds, 3.9 first (the version the recipe verified); the shims above only work
  # for the versions pyenv has selected.
  for minor in 9 8 7; do
    for root in "$(pyenv root 2>/dev/null || true)" "$HOME/.pyenv" /root/.pyenv; do
      [[ -n "$root" ]] && candidates+=("$root"/versions/3."$minor".*/bin/python3)
    done
  done
  for c in "${candidates[@]}"; do
    [[ -n "$c" ]] || continue
    if command -v "$c" >/dev/null 2>&1 &&
       "$c" -c 'import sys, venv; assert (3, 7) <= sys.version_info[:2] <= (3, 9)' >/dev/null 2>&1; then
      "$c" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  return 1
}

# The marker is written last, so an interrupted install is redone rather than trusted.
if [[ ! -f "$VENV/.lakeflow-complete" ]]; then
  PY=$(find_python) || {
    echo "install-pants: no CPython 3.7-3.9 found (Pants 2.17 runs on nothing newer); set PANTS_PYTHON" >&2
    exit 2
  }
  log "creating $VENV with $PY; pip install pantsbuild.pants==$PANTS_VERSION"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  quiet_pip "$VENV/bin/pip" install -q --disable-pip-version-check "pantsbuild.pants==$PANTS_VERSION"
  touch "$VENV/.lakeflow-complete"
fi

if [[ ! -f "$PEX_PEX" ]] || ! echo "$PEX_SHA256  $PEX_PEX" | sha256sum -c --quiet - 2>/dev/null; then
  log "building $PEX_PEX from PyPI pex==$PEX_VERSION"
  # --no-strip-pex-env: otherwise the pex CLI drops the PEX_ROOT Pants gives it and fills ~/.pex.
  quiet_pip "$VENV/bin/pex" "pex==$PEX_VERSION" -c pex -o "$PEX_PEX.tmp" \
    --no-strip-pex-env --include-tools --no-compile --disable-cache \
    --python-shebang '/usr/bin/env python3'
  mv "$PEX_PEX.tmp" "$PEX_PEX"
fi
echo "$PEX_SHA256  $PEX_PEX" | sha256sum -c --quiet -

# The machine's settings travel as environment variables, not in the test repo's pants.toml: a
# user's repo does not carry them, and their paths depend on where this checkout is.
CA=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
mkdir -p "$HOME_DIR/bin" "$HOME_DIR/cache"
cat >"$HOME_DIR/bin/pants.tmp" <<EOF
#!/usr/bin/env bash
# Written by .ci/install-pants.sh: Pants $PANTS_VERSION with this machine's settings.
# GitHub is unreachable: the pex CLI comes from a local file built from PyPI.
export PANTS_PEX_CLI_VERSION="v$PEX_VERSION"
export PANTS_PEX_CLI_URL_TEMPLATE="file:$PEX_PEX"
export PANTS_PEX_CLI_KNOWN_VERSIONS="['v$PEX_VERSION|linux_x86_64|$PEX_SHA256|$PEX_SIZE', 'v$PEX_VERSION|linux_arm64|$PEX_SHA256|$PEX_SIZE']"
# The global pip config holds a constraint file that breaks pip 23's legacy resolver inside pex;
# without that config pip also loses its CA bundle, so Pants hands the bundle over itself.
export PANTS_SUBPROCESS_ENVIRONMENT_ENV_VARS="+['PIP_CONFIG_FILE=/dev/null']"
export PANTS_CA_CERTS_PATH="\${PANTS_CA_CERTS_PATH:-$CA}"
# One cache for every repo copy the tests make, so only the first Pants run is cold.
export PANTS_LOCAL_STORE_DIR="\${PANTS_LOCAL_STORE_DIR:-$HOME_DIR/cache/lmdb_store}"
export PANTS_NAMED_CACHES_DIR="\${PANTS_NAMED_CACHES_DIR:-$HOME_DIR/cache/named_caches}"
# No daemon outlives a test or benchmark unless the caller asks for one.
export PANTS_PANTSD="\${PANTS_PANTSD:-false}"
exec "$VENV/bin/pants" "\$@"
EOF
chmod +x "$HOME_DIR/bin/pants.tmp"
mv "$HOME_DIR/bin/pants.tmp" "$HOME_DIR/bin/pants"
log "Pants $PANTS_VERSION ready: $HOME_DIR/bin/pants (tests find it there, or through LAKEFLOW_TEST_PANTS)"
echo "$HOME_DIR/bin/pants"
