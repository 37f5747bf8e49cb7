#!/usr/bin/env bash
# Installs Debian's chromium for the browser test of the live preview, when it
# is missing (idempotent: an installed chromium is left alone).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends chromium >/dev/null \
  || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; }
test -x /usr/bin/chromium
