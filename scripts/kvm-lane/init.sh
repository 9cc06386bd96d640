#!/bin/sh
# init.sh - PID 1 of the KVM lane's initramfs: load KVM for AMD SVM, run each test binary, print logs and
# JUnit XML between @@ markers on the serial console, and report the verdict through isa-debug-exit.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "@@BOOTED $(cat /proc/sys/kernel/osrelease)"
# Unicorn (the differential test's other side) reserves 1 GiB for translated code: allow it in 512 MiB.
echo 1 >/proc/sys/vm/overcommit_memory

verdict=1 # isa-debug-exit byte: 0 = pass (QEMU exits 1), 1 = fail (QEMU exits 3)
finish() {
	sync
	printf "\\$(printf %o "$verdict")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
	poweroff -f
}

# ccp before kvm-amd: the Debian kernel is built with SEV, whose symbols live in ccp.ko.
for m in irqbypass ccp kvm kvm-amd; do
	if ! insmod /modules/$m.ko 2>/tmp/insmod.err; then
		echo "kvm-guest: insmod $m failed: $(cat /tmp/insmod.err)"
		finish
	fi
done
if [ ! -c /dev/kvm ]; then
	echo "kvm-guest: /dev/kvm did not appear after loading kvm-amd"
	finish
fi
. /host-info.sh
echo "@@HOST $(kvm_host_info) (QEMU TCG, emulated AMD SVM)"
echo "kvm-guest: kvm_amd npt=$(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null)" \
	"nested=$(cat /sys/module/kvm_amd/parameters/nested 2>/dev/null)"

# Each binary gets a deadline so one hung test cannot eat the lane; its output streams live to the console.
set -o pipefail
per_test=60 output=xml
. /tests/env
verdict=0
while read -r name args; do
	echo "kvm-guest: running $name $args"
	echo "@@LOG-BEGIN $name"
	CMOCKA_MESSAGE_OUTPUT=$output CMOCKA_XML_FILE=/out/$name.xml timeout -s KILL "$per_test" \
		/tests/$name.bin $args 2>&1 | tee /out/$name.log
	rc=$?
	echo "@@LOG-END $name"
	[ "$rc" -eq 137 ] && echo "kvm-guest: $name killed after ${per_test}s"
	echo "@@XML-BEGIN $name"
	cat /out/$name.xml 2>/dev/null
	echo "@@XML-END $name"
	echo "@@RESULT $name $rc"
	[ "$rc" -eq 0 ] || verdict=1
done </tests/list
finish
