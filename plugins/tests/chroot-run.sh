#!/bin/bash
# chroot-run.sh ROOT SECONDS CMD...: runs CMD inside the Debian chroot ROOT with /proc, /sys and
# /dev mounted for the command's duration only (always unmounted, even on failure or timeout),
# killed after SECONDS. Mounts already present are reused and left alone (idempotent).
set -eu -o pipefail
root=$(realpath "$1"); secs=$2; shift 2
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do $SUDO umount -l "${mounted[$i]}" || true; done
}
trap cleanup EXIT INT TERM
for m in proc sys dev dev/pts; do
  mountpoint -q "$root/$m" && continue
  mkdir -p "$root/$m"
  case $m in
    proc) $SUDO mount -t proc proc "$root/proc" ;;
    sys) $SUDO mount -t sysfs sys "$root/sys" ;;
    dev) $SUDO mount --bind /dev "$root/dev" ;;
    dev/pts) $SUDO mount -t devpts devpts "$root/dev/pts" ;;
  esac
  mounted+=("$root/$m")
done
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
$SUDO timeout --kill-after=10 "$secs" chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
