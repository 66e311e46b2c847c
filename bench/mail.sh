#!/usr/bin/env bash
# Outbox → SMTP throughput of a release build against a local SMTP server (postfix's
# smtp-sink), on loopback. Installs what it needs (as root, from Debian) and prints the figure.
# Usage: bench/mail.sh [--messages N] [--concurrency N]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v smtp-sink >/dev/null && [ ! -x /usr/sbin/smtp-sink ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "bench/mail.sh needs smtp-sink (Debian package postfix); install it or run as root" >&2
    exit 2
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix >/dev/null
fi
cargo build --release --locked -p usher
exec python3 bench/mail_throughput.py --usher target/release/usher --sink smtp-sink "$@"
