#!/usr/bin/env bash
# Installs the Debian packages that `make test` needs, when they are missing:
# chromium for the UI tests in a real headless browser, prometheus (with promtool) for the
# metrics tests, redis-server for the cluster quota tests, slapd for the LDAP auth module tests.
# It needs root (apt-get); without it, it names the packages to install and fails.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# promtool and a Prometheus server: /metrics is checked and scraped for real.
{ command -v promtool && command -v prometheus; } >/dev/null 2>&1 || need+=(prometheus)
# redis-server: cluster-wide quotas (cluster/redisquota, the cluster tests and make cluster-demo).
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# slapd (OpenLDAP): the LDAP auth module's tests start their own on loopback (auth/ldap_test.go).
[ -x /usr/sbin/slapd ] || need+=(slapd)
# curl and openssl s_client: the TLS listener is tested with real clients (cmd/torii tls_test.go).
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
	echo "tools/deps.sh: missing Debian packages: ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
	exit 1
fi
echo "tools/deps.sh: installing ${need[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
