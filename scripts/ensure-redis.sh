#!/usr/bin/env bash
# Installs redis-server (Debian/Ubuntu, apt-get) if it is missing, for the redis-limit tests.
# Those tests start their own throwaway servers on free loopback ports, so only the binary is
# needed: the system service is kept from starting during the install.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

# policy-rc.d answering 101 tells the package scripts not to start services; only add one
# (and remove it afterwards) if the machine has none of its own.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  trap '$sudo rm -f "$policy"' EXIT
fi

# env, not an export: sudo would drop an exported variable.
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null
redis-server --version
