#!/usr/bin/python3
# fuzz/tools/make_seeds.py - regenerate the checked-in seed corpora and dictionaries (struct-packed, deterministic).
import os
import struct

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPS = ["SESSION_OPEN", "SESSION_UPGRADE", "SESSION_CLOSE", "SESSION_QUOTA", "DS_ALLOC", "DS_FREE", "ATTACH", "DETACH",
       "ATTACH_PIC", "VCPU_CREATE", "VCPU_NATIVE", "VCPU_STATE_GET", "VCPU_STATE_PUT", "VCPU_PAUSE", "CLIENT_QUOTA"]
OP = {name: i + 1 for i, name in enumerate(OPS)}
STATE_PLAIN, STATE_SEGS, STATE_DTABLES = 52, 8, 2


def frame(op, payload, seq=1, reply=False):
    return struct.pack("<IHHI", len(payload), 1, op | (0x8000 if reply else 0), seq) + payload


def wire_state(charged=0, values=None, fpu=b""):
    values = values or {}
    out = struct.pack("<Q", charged)
    out += b"".join(struct.pack("<Q", values.get(i, 0)) for i in range(STATE_PLAIN))
    out += b"".join(struct.pack("<HHIQ", 0x8 * i, 0x93, 0xffff, 0) for i in range(STATE_SEGS))
    out += b"".join(struct.pack("<IQ", 0xffff, 0) for _ in range(STATE_DTABLES))
    return out + struct.pack("<IH", 0xfe, len(fpu)) + fpu


def requests():
    cap = struct.pack("<Q", 0x123456000001)
    yield "open", frame(OP["SESSION_OPEN"], struct.pack("<QQIB", 5 << 20, 10, 1, 2) + b"vm" + struct.pack("<B", 4) + b"null")
    yield "upgrade", frame(OP["SESSION_UPGRADE"], cap + struct.pack("<QQ", 1 << 20, 2))
    for name in ("SESSION_CLOSE", "SESSION_QUOTA", "DS_FREE", "VCPU_NATIVE", "VCPU_STATE_GET", "VCPU_PAUSE"):
        yield name.lower(), frame(OP[name], cap)
    yield "ds_alloc", frame(OP["DS_ALLOC"], struct.pack("<Q", 65536))
    yield "attach", frame(OP["ATTACH"], cap + cap + struct.pack("<QQQI", 0x100000, 0, 0, 3))
    yield "detach", frame(OP["DETACH"], cap + struct.pack("<QQ", 0x100000, 4096))
    yield "attach_pic", frame(OP["ATTACH_PIC"], cap + struct.pack("<Q", 0x200000))
    yield "vcpu_create", frame(OP["VCPU_CREATE"], cap + struct.pack("<I", 1))
    yield "state_put", frame(OP["VCPU_STATE_PUT"], cap + struct.pack("<I", 1) + wire_state(0b1011, {0: 7, 8: 0x1000}, b"\x7f\x03"))
    yield "client_quota", frame(OP["CLIENT_QUOTA"], b"")


def replies():
    ok = struct.pack("<I", 0)
    yield "r_open", frame(OP["SESSION_OPEN"], ok + struct.pack("<Q", 0xabc000001), reply=True)
    yield "r_attach", frame(OP["ATTACH"], ok + struct.pack("<QQ", 0x100000, 0x2000), reply=True)
    yield "r_quota", frame(OP["SESSION_QUOTA"], ok + struct.pack("<QQQQ", 1 << 20, 8192, 10, 1), reply=True)
    yield "r_vcpu", frame(OP["VCPU_CREATE"], ok + struct.pack("<QI", 0xdef000002, 0), reply=True)
    yield "r_native", frame(OP["VCPU_NATIVE"], ok + struct.pack("<B", 3) + b"kvm" + struct.pack("<iQB", 5, 4096, 0), reply=True)
    yield "r_state", frame(OP["VCPU_STATE_GET"], ok + wire_state(1 << 62, {}, b"\0" * 16), reply=True)
    yield "r_error", frame(0x77, struct.pack("<I", 10), reply=True)


def session_streams():
    open_ = bytes([0, 0x41, 0, 10, 1, 1])  # SESSION_OPEN 1 MiB, 10 caps, svm, null
    yield "memory", open_ + bytes([4, 0x04, 6, 0, 1, 0x10, 0, 0, 2, 7, 0, 0x10, 0x01, 3, 0, 5, 1, 3, 0, 2, 0])
    yield "vcpu", open_ + bytes([9, 0, 0, 11, 1, 12, 1, 1]) + struct.pack("<Q", 5) + bytes([1]) + \
        struct.pack("<Q", 0x80000001) + bytes([0, 11, 1, 13, 1, 10, 1, 3, 0, 2, 0, 11, 1])
    yield "quota", open_ + bytes([1, 0, 0x02, 2, 4, 0x41, 6, 0, 1, 0x40, 0, 0, 0, 6, 0, 1, 0x41, 1, 0, 0,
                                  8, 0, 0x20, 5, 1, 3, 0, 14])
    yield "faults", bytes([0xf9]) + open_ + bytes([0xfa, 4, 0x04]) + open_ + bytes([4, 0x04, 0xfb, 6, 1, 2, 0x10, 0, 0, 2])
    yield "vmx", bytes([0, 0x41, 1, 10, 2, 1, 9, 0, 1, 12, 1, 1]) + struct.pack("<Q", 1) + bytes([0, 0, 11, 1])


def vcpu_states():
    # model byte, u32 charged mask of the harness's register list, then one value per charged register
    yield "plain_svm", bytes([0]) + struct.pack("<I", 0)
    yield "plain_vmx", bytes([1]) + struct.pack("<I", 0)
    yield "cr0_pg_no_pe", bytes([0]) + struct.pack("<I", 1 << 2) + struct.pack("<Q", 0x80000000)
    yield "efer_lme", bytes([1]) + struct.pack("<I", (1 << 2) | (1 << 5)) + struct.pack("<QQ", 0x80000011, 0x100)
    yield "inject_nmi", bytes([1]) + struct.pack("<I", 1 << 8) + struct.pack("<Q", 0x80000202)
    yield "bad_flags", bytes([0]) + struct.pack("<I", 1 << 1) + struct.pack("<Q", 0)


def guest_codes():
    # mode byte (0 real, 1 protected), then guest code at the entry point
    yield "out_hlt", bytes([0]) + bytes.fromhex("b0 41 e6 e9 f4")
    yield "cpuid_rdtsc", bytes([1]) + bytes.fromhex("31 c0 0f a2 0f 31 f4")
    yield "string_io", bytes([0]) + bytes.fromhex("be 00 10 b9 04 00 f3 6e f4")
    yield "mmio", bytes([1]) + bytes.fromhex("b8 00 00 00 c0 c7 00 78 56 34 12 8b 18 f4")
    yield "msr", bytes([1]) + bytes.fromhex("b9 10 00 00 00 0f 32 0f 30 f4")
    yield "loop", bytes([0]) + bytes.fromhex("eb fe")


def neutral_exits():
    # kind byte, then the payload bytes the harness folds into a valid neutral exit
    for kind in range(1, 16):
        yield "kind%02d" % kind, bytes([kind]) + bytes(range(kind, kind + 24))


def write_corpus(target, items):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in items:
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def hexstr(b):
    return '"' + "".join("\\x%02x" % c for c in b) + '"'


def write_dict(target, entries):
    with open(os.path.join(HERE, "dict", target + ".dict"), "w") as f:
        f.write("# %s: opcodes and encodings (libFuzzer/AFL dictionary; fuzz/tools/make_seeds.py)\n" % target)
        for name, data in entries:
            f.write("%s=%s\n" % (name, hexstr(data)))


def main():
    write_corpus("rpc_decode", list(requests()) + list(replies()))
    write_corpus("rpc_session", session_streams())
    write_corpus("vcpu_state", vcpu_states())
    write_corpus("guest_code", guest_codes())
    write_corpus("model_diff", neutral_exits())
    hdr = [("version", struct.pack("<H", 1)), ("max_payload", struct.pack("<I", 4096)),
           ("over_payload", struct.pack("<I", 4097))]
    write_dict("rpc_decode", hdr + [("op_" + n.lower(), struct.pack("<H", i)) for n, i in OP.items()] +
               [("reply_" + n.lower(), struct.pack("<H", i | 0x8000)) for n, i in OP.items()] +
               [("fpu_max", struct.pack("<H", 2560)), ("charged_all", struct.pack("<Q", (1 << 63) - 1)),
                ("label_max", bytes([128])), ("name_max", bytes([32]))])
    write_dict("rpc_session", [("call_" + n.lower(), bytes([i - 1])) for n, i in OP.items()] +
               [("fail_alloc_%d" % n, bytes([0xf8 + n])) for n in range(8)] +
               [("mib", bytes([0x41])), ("forged_cap", bytes([0xf0])), ("null_cap", bytes([0xff])),
                ("gpa_1g", bytes([0x41, 1])), ("gpa_top", bytes([0x81]))])
    write_dict("vcpu_state", [("cr0_pe", struct.pack("<Q", 0x11)), ("cr0_pg_pe", struct.pack("<Q", 0x80000011)),
                              ("cr0_cd_nw", struct.pack("<Q", 0x60000000)), ("cr4_pae", struct.pack("<Q", 0x20)),
                              ("efer_lme_lma", struct.pack("<Q", 0x500)), ("efer_svme", struct.pack("<Q", 0x1000)),
                              ("rflags_fixed", struct.pack("<Q", 2)), ("inj_valid_nmi", struct.pack("<Q", 0x80000202)),
                              ("inj_valid_pf_err", struct.pack("<Q", 0x80000b0e)), ("ar_code32", struct.pack("<H", 0xc9b)),
                              ("ar_code64", struct.pack("<H", 0xa9b)), ("ar_unusable", struct.pack("<H", 0x1000))])
    write_dict("guest_code", [("out_imm", b"\xe6"), ("in_imm", b"\xe4"), ("out_dx", b"\xee"), ("hlt", b"\xf4"),
                              ("cpuid", b"\x0f\xa2"), ("rdtsc", b"\x0f\x31"), ("rdtscp", b"\x0f\x01\xf9"),
                              ("rdmsr", b"\x0f\x32"), ("wrmsr", b"\x0f\x30"), ("vmcall", b"\x0f\x01\xc1"),
                              ("vmmcall", b"\x0f\x01\xd9"), ("rep_outsb", b"\xf3\x6e"), ("int3", b"\xcc"),
                              ("ud2", b"\x0f\x0b"), ("mov_cr0", b"\x0f\x22\xc0"), ("lgdt", b"\x0f\x01\x15")])
    write_dict("model_diff", [("kind_%d" % k, bytes([k])) for k in range(16)] +
               [("port_cf8", struct.pack("<H", 0xcf8)), ("gpa_mmio", struct.pack("<Q", 0xfee00000))])


if __name__ == "__main__":
    main()
