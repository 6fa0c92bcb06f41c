#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian/Ubuntu machine (as root), then runs
# typecheck, lint and every test. This is the README's test command and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have g++ || need+=(g++)
have make || need+=(make)
have python3 || need+=(python3)
have zstd || need+=(zstd)
have age || need+=(age)
have sqlite3 || need+=(sqlite3)
have promtool || need+=(prometheus)
have pgbackrest || need+=(pgbackrest)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql postgresql-contrib)
have pg_dump || need+=(postgresql-client)
have pgbench || need+=(postgresql-contrib)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${need[*]} (run as root or install them)" >&2
    exit 1
  fi
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# moto's standalone S3 server (the S3 suite's second server: it implements multipart-upload
# listing, which s3rver lacks). Preinstalled on some images; otherwise from PyPI.
python3 -c 'import moto.server' 2>/dev/null || python3 -m pip install --quiet 'moto[server]'

# better-sqlite3 and zstd-napi compile from source against Node's own headers.
export npm_config_nodedir="${npm_config_nodedir:-$(dirname "$(dirname "$(command -v node)")")}"
npm ci --no-audit --no-fund
npm run typecheck
npm run lint
npx vitest run
