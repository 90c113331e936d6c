#!/bin/sh
# Atelier stage 1: the initramfs /init, run by busybox sh as PID 1.
#
# Mounts proc/sys/devtmpfs, loads the virtio modules listed in /atelier/modules.list (Debian
# cloud kernel only), waits for the root device (atelier.root=, default /dev/vda), mounts it
# read-write on /sysroot with a tmpfs on /sysroot/run, copies /atelier (the agent delivered with
# this boot) to /sysroot/run/atelier, moves /dev, /proc and /sys into the new root and switches
# to `python3 -I -S /run/atelier/init`. Any failure prints one "atelier-stage1: FATAL: ..." line
# on the console and powers the VM off, so the host never waits on a silent hang.

PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PATH

ROOT=/dev/vda
ROOTFSTYPE=ext4
ROOT_WAIT_TENTHS=100

say() {
    echo "atelier-stage1: $*"
}

fail() {
    say "FATAL: $*"
    say "powering off"
    sync
    sleep 1
    if [ -w /proc/sysrq-trigger ]; then
        echo o > /proc/sysrq-trigger
    fi
    poweroff -f
    while true; do sleep 60; done
}

mkdir -p /proc /sys /dev
mount -t proc -o nosuid,nodev,noexec proc /proc || fail "cannot mount /proc"
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys || fail "cannot mount /sys"
# The bundle carries static /dev/console and /dev/null nodes, so their presence says nothing:
# block devices only appear on a devtmpfs.
if ! grep -q '^devtmpfs /dev ' /proc/mounts; then
    mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev || fail "cannot mount devtmpfs on /dev"
fi
if [ -c /dev/console ]; then
    exec </dev/console >/dev/console 2>&1
fi
read -r started _ </proc/uptime

read -r cmdline </proc/cmdline
set -f # split the command line into words without expanding globs
for arg in $cmdline; do
    case "$arg" in
        atelier.root=*) ROOT="${arg#atelier.root=}" ;;
        atelier.rootfstype=*) ROOTFSTYPE="${arg#atelier.rootfstype=}" ;;
        atelier.debug=1) set -x ;;
    esac
done
set +f

if [ -f /atelier/modules.list ]; then
    kver="$(uname -r)"
    moddir="/atelier/modroot/lib/modules/$kver"
    [ -d "$moddir" ] || fail "modules.list present but $moddir is missing (kernel $kver)"
    while read -r module; do
        case "$module" in
            "" | "#"*) continue ;;
        esac
        # Already loaded or built in: insmod says "File exists", which is fine.
        insmod "$moddir/$module" 2>/dev/null || [ -d "/sys/module/$(basename "$module" .ko | tr - _)" ] \
            || say "warning: cannot load $module"
    done < /atelier/modules.list
fi

tenths=0
while [ ! -b "$ROOT" ]; do
    tenths=$((tenths + 1))
    if [ "$tenths" -gt "$ROOT_WAIT_TENTHS" ]; then
        fail "root device $ROOT did not appear within $((ROOT_WAIT_TENTHS / 10)) s (virtio-blk driver missing? wrong atelier.root=?)"
    fi
    sleep 0.1 2>/dev/null || usleep 100000
done

mkdir -p /sysroot
mount -t "$ROOTFSTYPE" -o rw "$ROOT" /sysroot || fail "cannot mount $ROOT ($ROOTFSTYPE) on /sysroot"
[ -x /sysroot/usr/bin/python3 ] || fail "the root filesystem on $ROOT has no /usr/bin/python3"
mkdir -p /sysroot/run /sysroot/dev /sysroot/proc /sysroot/sys || fail "cannot create mount points in $ROOT"
mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /sysroot/run || fail "cannot mount tmpfs on /sysroot/run"
mkdir -p /sysroot/run/atelier && cp -a /atelier/. /sysroot/run/atelier/ \
    || fail "cannot copy the agent to /sysroot/run/atelier"
[ -f /sysroot/run/atelier/init ] || fail "the boot bundle has no /atelier/init launcher"

# A kernel with modules (Debian's cloud kernel) brings them in the bundle; expose them where
# modprobe and the kernel's module autoloading look, without writing them into the volume.
kver="$(uname -r)"
if [ -d "/sysroot/run/atelier/modroot/lib/modules/$kver" ]; then
    mkdir -p /sysroot/lib/modules 2>/dev/null
    mount --bind /sysroot/run/atelier/modroot/lib/modules /sysroot/lib/modules \
        || say "warning: cannot mount the kernel modules on /lib/modules"
fi

for fs in dev proc sys; do
    mount --move "/$fs" "/sysroot/$fs" || fail "cannot move /$fs into the root filesystem"
done

read -r now _ </sysroot/proc/uptime
say "stage 1 ran from ${started} s to ${now} s; starting /run/atelier/init"
exec switch_root /sysroot /usr/bin/python3 -I -S /run/atelier/init
