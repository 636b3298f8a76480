#!/usr/bin/env bash
# The app on a 64-bit Raspberry Pi OS-like system, emulated: builds the wheel, installs it
# into a Debian Bookworm arm64 root under qemu user emulation and runs the demo headless.
# Not part of CI (about 10 minutes). As root, on a Debian/Ubuntu x86-64 host:
#   scripts/pi-emulated.sh [ROOTFS (default /tmp/pi-bookworm-arm64)] [FRAMES (default 30)]
# Writes its findings to $LOG (default /tmp/pi-emulated.log); docs/raspberry-pi.md records a run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOTFS=${1:-/tmp/pi-bookworm-arm64}
FRAMES=${2:-30}
LOG=${LOG:-/tmp/pi-emulated.log}
PYTHON=${PYTHON:-python3}
: >"$LOG"
say() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG"; }
timed() { local t0=$SECONDS; "$@"; say "took $((SECONDS - t0)) s: $*" ; }

say "host: $(uname -m), $(. /etc/os-release && echo "$PRETTY_NAME"), commit $(git rev-parse --short HEAD)"
if ! command -v debootstrap >/dev/null || [ ! -x /usr/bin/qemu-aarch64-static ]; then
    apt-get update -qq && apt-get install -y -qq debootstrap qemu-user-static binfmt-support >/dev/null
fi
# qemu-user-static registers its interpreters with binfmt_misc: an arm64 binary then just runs
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
say "binfmt: $(head -1 /proc/sys/fs/binfmt_misc/qemu-aarch64)"

WHEELS=$(mktemp -d)
timed "$PYTHON" -m pip wheel --no-deps -q -w "$WHEELS" .
WHEEL=$(basename "$WHEELS"/edge_digits-*.whl)
if [ ! -x "$ROOTFS/usr/bin/python3" ]; then
    timed debootstrap --arch=arm64 --variant=minbase bookworm "$ROOTFS" http://deb.debian.org/debian >/dev/null
    cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
    timed chroot "$ROOTFS" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip ca-certificates >/dev/null'
fi
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
cp "$WHEELS/$WHEEL" "$ROOTFS/tmp/"
# A clean environment in the root (the host's PIP_*/SSL_* paths mean nothing there); pip
# trusts what the host's pip is told to trust (e.g. a proxy's CA), if anything.
ROOT_ENV=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8)
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
    cp "$PIP_CERT" "$ROOTFS/etc/ssl/certs/host-pip-cert.pem"
    ROOT_ENV+=(PIP_CERT=/etc/ssl/certs/host-pip-cert.pem)
fi
in_root() { chroot "$ROOTFS" env -i "${ROOT_ENV[@]}" "$@"; }
mountpoint -q "$ROOTFS/proc" || mount -t proc proc "$ROOTFS/proc"
trap 'umount "$ROOTFS/proc" 2>/dev/null || true; rm -rf "$WHEELS"' EXIT
say "in the root: $(in_root uname -m), $(in_root python3 --version)"
in_root rm -rf /opt/app
timed in_root python3 -m venv /opt/app
timed in_root /opt/app/bin/pip install -q "/tmp/$WHEEL"
# then the headless OpenCV (the GUI build needs libxcb, which a Lite system lacks); in this
# order: both builds share the cv2 folder, so uninstalling one after the other breaks both
in_root /opt/app/bin/pip uninstall -y -q opencv-python
timed in_root /opt/app/bin/pip install -q 'opencv-python-headless>=4.9,<6'
say "pip freeze:"
in_root /opt/app/bin/pip freeze | tee -a "$LOG"
in_root sh -c 'mkdir -p /tmp/run && cd /tmp/run && /opt/app/bin/edge-digits --version' | tee -a "$LOG"
t0=$SECONDS
in_root sh -c "cd /tmp/run && /opt/app/bin/edge-digits --source demo --fps 0 --max-frames $FRAMES --no-display --json /tmp/run/readings.jsonl --overwrite" 2>&1 | tee -a "$LOG"
say "demo, $FRAMES frames: $((SECONDS - t0)) s"
in_root /opt/app/bin/python - <<'PY' | tee -a "$LOG"
import collections, json, statistics
lines = [json.loads(l) for l in open("/tmp/run/readings.jsonl")]
texts = collections.Counter(n["text"] for r in lines for n in r["numbers"] if n["stable"])
print(f"{len(lines)} JSON lines; median latency {statistics.median(r['latency_ms'] for r in lines):.1f} ms "
      f"(emulated); stable readings (frames): {dict(texts)}")
PY
