#!/usr/bin/env bash
# Installs the system packages Hotline needs on Debian 12, only those that are missing.
set -euo pipefail

# command -> Debian package
declare -A NEED=(
  [debootstrap]=debootstrap     # builds the Debian sid root that holds Asterisk 22
  [zstd]=zstd                   # compresses the cached root
  [sipp]=sip-tester             # scripted SIP callers (make call, tests, benchmarks)
  [baresip]=baresip-core        # SIP softphones for operators in tests
  [espeak-ng]=espeak-ng         # offline text-to-speech
  [sox]=sox                     # audio conversion for prompts and test audio
  [flite]=flite                 # more caller voices for the bot's speech test set
  [festival]=festival           # more caller voices for the bot's speech test set
  [chromium]=chromium           # headless browser for the QA web page tests
  [kamailio]=kamailio           # the cluster's SIP proxy, registrar and dispatcher (make cluster)
)
missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
# sox's extra formats (mp3/ulaw/...) are a separate package with no command of its own
dpkg -s libsox-fmt-all >/dev/null 2>&1 || missing+=(libsox-fmt-all)
# Kamailio's PostgreSQL driver (operators' digest auth against the directory)
dpkg -s kamailio-postgres-modules >/dev/null 2>&1 || missing+=(kamailio-postgres-modules)
# festival's voices for the speech test set (tests/support/speech_testset.py BROAD_VOICES)
for voice in festvox-us-slt-hts festvox-kallpc16k; do
  dpkg -s "$voice" >/dev/null 2>&1 || missing+=("$voice")
done
# PostgreSQL 15 server binaries: the tests start a throw-away cluster of their own
# (tests/support/postgres.py); Debian's package puts them outside PATH
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
# headers for Python packages that compile
dpkg -s python3-dev >/dev/null 2>&1 || true

if ((${#missing[@]})); then
  echo "[deps] installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "[deps] system packages present"
fi
