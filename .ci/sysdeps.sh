#!/usr/bin/env bash
# Install the system packages chat-lab uses, with apt, when we can.
#   .ci/sysdeps.sh            the capture and network tools
#   .ci/sysdeps.sh PKG...     just these packages
# As root (CI, a lab machine) it installs what is missing; otherwise it says
# what is missing and how to install it, and exits 0: everything that needs
# these tools skips with a reason on a laptop.
set -euo pipefail

if [ "$#" -gt 0 ]; then
  wanted=("$@")
else
  # command-or-library:package
  wanted=()
  command -v tcpdump >/dev/null 2>&1 || wanted+=(tcpdump)
  command -v tshark  >/dev/null 2>&1 || wanted+=(tshark)
  command -v nft     >/dev/null 2>&1 || wanted+=(nftables)
  command -v ip      >/dev/null 2>&1 || wanted+=(iproute2)
  command -v tc      >/dev/null 2>&1 || wanted+=(iproute2)
  # README's `nc 127.0.0.1 5050` (tests/docs runs it as written)
  command -v nc      >/dev/null 2>&1 || wanted+=(netcat-openbsd)
  ldconfig -p 2>/dev/null | grep -q 'libpcap\.so' || wanted+=(libpcap0.8)
fi

[ "${#wanted[@]}" -eq 0 ] && exit 0
# de-duplicate
mapfile -t wanted < <(printf '%s\n' "${wanted[@]}" | sort -u)

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "chat-lab: missing system packages: ${wanted[*]}"
  echo "          install them with: sudo apt-get install ${wanted[*]}"
  echo "          (tests and demos that need them will say so and skip)"
  exit 0
fi

echo "chat-lab: installing system packages: ${wanted[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no, without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
