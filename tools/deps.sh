#!/usr/bin/env bash
# Installs the Debian packages that `make test` needs, when they are missing.
# It needs root (apt-get); without it, it names the packages to install and fails.
set -euo pipefail
need=()
# Nothing yet: later issues add packages here (chromium for the UI tests).
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
	echo "tools/deps.sh: missing packages: ${need[*]}; install them with apt-get" >&2
	exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
