#!/usr/bin/env bash
# Creates .venv with the pinned OVDKit stack. Idempotent: a second run checks a stamp and exits.
#
# Environment:
#   PYTHON          interpreter to build the venv from (default: python3.11)
#   OVDKIT_VENV     venv folder (default: <repo>/.venv)
#   OVDKIT_CACHE    cache outside the repo for built wheels (default: ~/.cache/ovdkit)
#   PIP_FIND_LINKS  wheelhouses searched for a prebuilt mmcv 2.1.0 (space separated)
#   FORCE_CUDA=1    build mmcv with CUDA kernels (never uses a CPU-only wheelhouse wheel)
#   OVDKIT_BROWSER=1 (or CI=1, as .ci/run exports) also install the headless browser of
#                   tests/test_tools/test_webdemo_browser.py: Debian's chromium and
#                   chromium-driver with apt-get, as root; skipped when they are on PATH
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${OVDKIT_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3.11}
CACHE=${OVDKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ovdkit}
STAMP=$VENV/.ovdkit-setup-stamp
MMCV_VERSION=2.1.0

log() { echo "[setup] $*" >&2; }

# The browser of the page test (before the venv's up-to-date check, which exits early).
have_browser() {
  { command -v chromium || command -v chromium-browser || command -v google-chrome; } >/dev/null \
    && command -v chromedriver >/dev/null
}
ci=$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')
if [ "${OVDKIT_BROWSER:-}" = 1 ] || [ "$ci" = 1 ] || [ "$ci" = true ]; then
  if have_browser; then
    :
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing chromium and chromium-driver (apt-get) for the browser test"
    export DEBIAN_FRONTEND=noninteractive
    # a failed install fails the browser test in CI, not the whole set-up
    if ! { apt-get update -q >&2 && apt-get install -y -q chromium chromium-driver >&2; }; then
      log "warning: apt-get could not install chromium and chromium-driver: the browser test" \
          "(tests/test_tools/test_webdemo_browser.py) fails in CI until they are installed"
    fi
  else
    log "warning: chromium / chromedriver are not on PATH and cannot be installed here" \
        "(needs root and apt-get): the browser test (tests/test_tools/test_webdemo_browser.py)" \
        "fails in CI; install Debian's chromium and chromium-driver, as root:" \
        "apt-get install chromium chromium-driver"
  fi
fi

# What the venv must match: the pins, setup.py and this script.
want=$(cat "$ROOT"/requirements/*.txt "$ROOT/setup.py" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)
# The stamp is written only after a full import succeeded; a rerun checks that the packages
# and mmcv's compiled ops are still there without importing them (every make command pays this
# check, and an import of the stack takes seconds).
# ovdkit must be this checkout's (a venv shared with another clone may point at that one).
present='import importlib.util as u, pathlib, sys
m, o = u.find_spec("mmcv"), u.find_spec("ovdkit")
sys.exit(not (m and o and all(u.find_spec(n) for n in ("mmdet", "open_clip", "torch"))
              and pathlib.Path(o.origin).resolve().parents[1] == pathlib.Path(sys.argv[1])
              and any(pathlib.Path(m.origin).parent.glob("_ext*.so"))))'
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
    && "$VENV/bin/python" -c "$present" "$(cd "$ROOT/projects" && pwd -P)" 2>/dev/null; then
  log "environment up to date ($VENV)"
  exit 0
fi

if ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  echo "[setup] error: PYTHON=$PY is not Python 3.11 (set PYTHON to a 3.11 interpreter)" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip)
CONSTRAINTS=(-c "$ROOT/requirements/constraints.txt")

"${PIP[@]}" install -q "${CONSTRAINTS[@]}" wheel setuptools
log "torch / torchvision"
"${PIP[@]}" install -q "${CONSTRAINTS[@]}" torch torchvision

# --- mmcv: a wheelhouse wheel, a cached build, or a fresh build from the PyPI source --------
want_cuda=$("$VENV/bin/python" -c 'import os, torch; print(int(os.environ.get("FORCE_CUDA") == "1" or torch.cuda.is_available()))')
if [ "$want_cuda" = 1 ]; then
  WHEELS=$CACHE/wheels/cuda
  FIND=(--find-links "$WHEELS")          # wheelhouse copies are CPU-only: never take them here
else
  WHEELS=$CACHE/wheels/cpu
  FIND=(--find-links "$WHEELS")
  for d in ${PIP_FIND_LINKS:-}; do FIND+=(--find-links "$d"); done
fi
mkdir -p "$WHEELS"
if "$VENV/bin/python" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; then
  log "mmcv $MMCV_VERSION already installed"
elif PIP_FIND_LINKS= "${PIP[@]}" install -q --no-index --no-deps "${FIND[@]}" "mmcv==$MMCV_VERSION" 2>/dev/null; then
  log "mmcv $MMCV_VERSION installed from a prebuilt wheel"
else
  log "building mmcv $MMCV_VERSION from source (about 11 min on 2 cores, cached in $WHEELS)"
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  # mmcv's setup.py needs pkg_resources as setuptools < 70 had it, while torch 2.14 requires
  # setuptools >= 77: downgrade for the build only, restored below.
  # (pip then reports torch's setuptools requirement as a conflict: expected, temporary)
  "${PIP[@]}" install -q "setuptools<70"
  "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==$MMCV_VERSION" -d "$src"
  tar xzf "$src/mmcv-$MMCV_VERSION.tar.gz" -C "$src"
  # torch >= 2.10 headers need C++20; mmcv 2.1.0 hardcodes c++14/17.
  sed -i 's/-std=c++1[47]/-std=c++20/g' "$src/mmcv-$MMCV_VERSION/setup.py"
  (cd "$src/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} \
     "${PIP[@]}" wheel -q --no-deps --no-build-isolation . -w "$src/out")
  # Rename into the cache only when complete, so an interrupted build leaves no wheel behind.
  built=$(ls "$src"/out/mmcv-*.whl)
  cp "$built" "$WHEELS/.partial" && mv "$WHEELS/.partial" "$WHEELS/$(basename "$built")"
  "${PIP[@]}" install -q --no-index --no-deps --find-links "$WHEELS" "mmcv==$MMCV_VERSION"
  "${PIP[@]}" install -q "${CONSTRAINTS[@]}" setuptools
fi
# mmcv's own runtime requirements (not its build ones).
"${PIP[@]}" install -q "${CONSTRAINTS[@]}" addict packaging Pillow pyyaml yapf opencv-python \
  mmengine

log "mmengine / mmdet / open_clip / pycocotools / lvis / pytest / ovdkit"
"${PIP[@]}" install -q "${CONSTRAINTS[@]}" -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
"${PIP[@]}" install -q "${CONSTRAINTS[@]}" --no-deps --no-build-isolation -e "$ROOT"

"$VENV/bin/python" -c "import ovdkit, mmcv.ops, mmdet, open_clip; print('[setup] ok: mmdet', mmdet.__version__, 'mmcv', mmcv.__version__)" >&2
echo "$want" > "$STAMP"
