#!/usr/bin/env bash
# Install what Prime Spark needs on a fresh Debian / Raspberry Pi OS machine, idempotently:
# system packages (Mosquitto, Python venv support), then a virtualenv in .venv with the project.
# Usage: scripts/bootstrap.sh [pip extras, e.g. "test"]
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root (or sudo) to run: $*" >&2; return 1; fi
}

need=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto mosquitto-clients)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v python3 >/dev/null || need+=(python3)
# Voice node: espeak-ng speaks the replies (and the tests' speech); PyAudio builds against
# PortAudio's headers.
command -v espeak-ng >/dev/null || need+=(espeak-ng)
[ -e /usr/include/portaudio.h ] || need+=(portaudio19-dev)
# The tests start throwaway PostgreSQL clusters (initdb / pg_ctl from the server package).
case "$extras" in
  *test*) compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
          # The panel's end-to-end tests drive Debian's headless Chromium.
          command -v chromium >/dev/null || need+=(chromium)
          command -v chromedriver >/dev/null || need+=(chromium-driver)
          # The voice benchmark's corpus (bench/voice_corpus/): more voices than espeak-ng's.
          command -v flite >/dev/null || need+=(flite)
          command -v text2wave >/dev/null || need+=(festival)
          for v in festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts; do
            dpkg -s "$v" >/dev/null 2>&1 || need+=("$v")
          done ;;
esac
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian's mosquitto package starts a broker on 1883 via systemd; Prime Spark uses it if it
# answers, else starts its own. Nothing to do here.

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "Python >= 3.11 is required (found $("$PY" --version 2>&1))" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# pip runs only when pyproject.toml, setup.py, the Python or the extras changed since the last install
# (the project is installed editable: code changes need no reinstall). The stamp holds one line
# per extras set installed against this pyproject.toml.
stamp=.venv/.prime-spark-installed
key="$( { cat pyproject.toml setup.py; .venv/bin/python -VV; } | sha256sum | cut -c1-32) ${extras:-none}"
if [ -x .venv/bin/spark ] && [ -f "$stamp" ] && grep -qxF "$key" "$stamp"; then
  exit 0
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
spec="."
[ -n "$extras" ] && spec=".[${extras}]"
# Prebuilt wheels beside the clone (CI: llama-cpp-python, which PyPI has only as an sdist);
# without the folder pip builds from the sdist.
links=()
[ -d ../shared/wheels ] && links=(--find-links ../shared/wheels)
.venv/bin/python -m pip install -q "${links[@]}" -e "$spec"
# keep the lines of this pyproject.toml only, then add this extras set
{ grep -F "${key%% *} " "$stamp" 2>/dev/null || true; echo "$key"; } | sort -u > "$stamp.tmp"
mv "$stamp.tmp" "$stamp"
