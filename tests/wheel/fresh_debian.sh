#!/usr/bin/env bash
# On demand (20-30 minutes, not in scripts/test.sh): the wheel and the sdist on a fresh Debian 12,
# a debootstrap chroot (run as root; needs Debian's debootstrap and the Debian mirror).
#  1. A bare system with only python3 and python3-venv: the wheel installs from PyPI into a fresh
#     venv and passes check_libs.py and the smoke test (no FAISS, OpenBLAS, oneTBB, simdjson or
#     compiler on the system at all).
#  2. The README's system packages installed, then `pip install airtune-V.tar.gz` (pip's isolated
#     build, so _core only, compiled from scratch) into another fresh venv: the smoke test again.
#   bash tests/wheel/fresh_debian.sh [dist-folder] [chroot-folder]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dist="$(cd "${1:-$root/dist}" && pwd)"
chroot_dir="${2:-$root/build/chroot/bookworm}"
wheel="$(ls "$dist"/airtune-*manylinux*.whl | head -1)"
sdist="$(ls "$dist"/airtune-*.tar.gz | head -1)"
[ -x "$chroot_dir/bin/bash" ] || debootstrap --variant=minbase bookworm "$chroot_dir" http://deb.debian.org/debian
cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
mountpoint -q "$chroot_dir/proc" || mount -t proc proc "$chroot_dir/proc"
trap 'umount "$chroot_dir/proc" 2>/dev/null || true' EXIT
rm -rf "$chroot_dir/airtune" && mkdir -p "$chroot_dir/airtune"
cp "$wheel" "$sdist" "$root/tests/wheel/smoke.py" "$root/tests/wheel/check_libs.py" "$chroot_dir/airtune/"
# pip inside trusts what the host's pip trusts (this machine's pip.conf names the host's CA bundle).
cert="$(python3 -m pip config get global.cert 2>/dev/null || echo /etc/ssl/certs/ca-certificates.crt)"
cp "$cert" "$chroot_dir/airtune/ca.crt"
in_chroot() {
  chroot "$chroot_dir" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin PIP_CERT=/airtune/ca.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 bash -euo pipefail -c "$1"
}
t0=$(date +%s)

echo "-- 1. bare Debian 12 with python3 and python3-venv only"
in_chroot 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv > /dev/null
  for pkg in libfaiss-dev libopenblas0 libopenblas0-pthread libblas3 libtbb12 libsimdjson14 libgomp1 libgfortran5 gcc g++; do
    if dpkg-query -W -f="\${db:Status-Abbrev}" "$pkg" 2>/dev/null | grep -q "^ii"; then echo "unexpected on the bare system: $pkg"; exit 1; fi
  done
  cd /airtune && rm -rf /venv-wheel && python3 -m venv /venv-wheel
  /venv-wheel/bin/pip install -q --only-binary :all: ./airtune-*manylinux*.whl
  /venv-wheel/bin/python check_libs.py > /dev/null && /venv-wheel/bin/python smoke.py'
echo "-- wheel ok ($(($(date +%s) - t0)) s)"

echo "-- 2. the README's system packages (less ccache: an empty cache would not help), then the sdist built by pip from scratch"
in_chroot 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential pkg-config zlib1g-dev \
    libfaiss-dev libsimdjson-dev libtbb-dev libopenblas0-pthread libopenblas-dev python3-dev > /dev/null
  cd /airtune && rm -rf /venv-sdist && python3 -m venv /venv-sdist
  start=$(date +%s)
  /venv-sdist/bin/pip install -q ./airtune-*.tar.gz
  echo "sdist built and installed in $(($(date +%s) - start)) s"
  /venv-sdist/bin/python smoke.py'
echo "-- sdist ok ($(($(date +%s) - t0)) s)"
