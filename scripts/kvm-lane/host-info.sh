# host-info.sh - sourced by kvm-lane.sh (host lane) and init.sh (QEMU lane guest); POSIX sh and busybox sh.
# kvm_host_info prints one line naming the KVM this lane runs on:
#   flavour=VMX|SVM|PVM|other module=kvm_intel|kvm_amd|kvm_pvm|none vendor=<cpuinfo vendor_id> kernel=<release>
# The flavour comes from the loaded KVM module (/sys/module/kvm_*), else from the vmx/svm flags in /proc/cpuinfo.
kvm_host_info() {
	_module=none _flavour=other
	for _m in kvm_pvm kvm_intel kvm_amd; do
		if [ -d /sys/module/$_m ]; then
			_module=$_m
			break
		fi
	done
	case $_module in
	kvm_pvm) _flavour=PVM ;;
	kvm_intel) _flavour=VMX ;;
	kvm_amd) _flavour=SVM ;;
	*)
		_flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
		case " $_flags " in
		*" vmx "*) _flavour=VMX ;;
		*" svm "*) _flavour=SVM ;;
		esac
		;;
	esac
	_vendor=$(sed -n 's/^vendor_id[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n1)
	echo "flavour=$_flavour module=$_module vendor=${_vendor:-unknown} kernel=$(uname -r)"
}
