#!/usr/bin/env bash
# Installs what berth needs on Debian 12 (idempotent): the runtime parts from apt, npm packages, build.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(runc crun conmon containernetworking-plugins iptables iproute2 util-linux attr
  busybox-static docker-registry skopeo tini openssl gcc libc6-dev libisal-dev libzstd-dev make python3 g++ curl)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The docker CLI drives berthd in the tests; Debian's docker.io brings one where none is installed.
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# docker.io's package enables its own daemon; berth's tests never use it.
if [ -d /run/systemd/system ] && systemctl is-active --quiet docker 2>/dev/null; then :; fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
