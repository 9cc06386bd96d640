# core/rpc/tests/test_serve.py - `vmsim serve` end to end, speaking docs/rpc.md with struct: bad input, isolation, quota.
import os
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

VMSIM = os.environ.get("VMSIM", "vmsim")
VERSION = 1
REPLY = 0x8000
OP = dict(SESSION_OPEN=1, SESSION_UPGRADE=2, SESSION_CLOSE=3, SESSION_QUOTA=4, DS_ALLOC=5, DS_FREE=6,
          ATTACH=7, DETACH=8, ATTACH_PIC=9, VCPU_CREATE=10, VCPU_NATIVE=11, VCPU_STATE_GET=12,
          VCPU_STATE_PUT=13, VCPU_PAUSE=14, CLIENT_QUOTA=15)
OK, OUT_OF_RAM, INVALID_DATASPACE, DENIED, INVALID_ARGUMENT, INVALID_CAP, UNSUPPORTED = 0, 1, 4, 5, 8, 9, 10
MIB = 1 << 20


def frame(op, payload=b"", seq=1, version=VERSION, length=None):
    return struct.pack("<IHHI", len(payload) if length is None else length, version, op, seq) + payload


class Client:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.seq = 0

    def recv_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError("server closed the connection")
            data += chunk
        return data

    def reply(self):
        length, version, op, seq = struct.unpack("<IHHI", self.recv_exact(12))
        payload = self.recv_exact(length)
        assert version == VERSION and op & REPLY
        (result,) = struct.unpack_from("<I", payload)
        return op & ~REPLY, seq, result, payload[4:]

    def raw(self, data):
        self.sock.sendall(data)
        return self.reply()

    def call(self, op, payload=b""):
        self.seq += 1
        rop, seq, result, out = self.raw(frame(OP[op], payload, self.seq))
        assert (rop, seq) == (OP[op], self.seq)
        return result, out

    def open(self, ram=MIB, caps=10, label=b"vm", backend=b"null", model=1):
        result, out = self.call("SESSION_OPEN", struct.pack("<QQIB", ram, caps, model, len(label)) + label +
                                struct.pack("<B", len(backend)) + backend)
        assert result == OK
        return struct.unpack("<Q", out)[0]

    def ds(self, size):
        result, out = self.call("DS_ALLOC", struct.pack("<Q", size))
        return result, (struct.unpack("<Q", out)[0] if result == OK else None)

    def attach(self, session, ds, gpa, offset=0, size=0, flags=2):
        return self.call("ATTACH", struct.pack("<QQQQQI", session, ds, gpa, offset, size, flags))

    def close(self):
        self.sock.close()


@pytest.fixture
def server():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "vmsim.sock")
        proc = subprocess.Popen([VMSIM, "serve", "--socket", path, "--ram-pool", str(16 * MIB),
                                 "--client-ram", str(12 * MIB), "--max-clients", "16"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        assert "listening on" in line, line + proc.stderr.read()
        yield path, proc
        if proc.poll() is None:
            proc.terminate()
            out, err = proc.communicate(timeout=20)
            assert proc.returncode == 0, out + err
            assert "env quota used 0 bytes, 0 caps" in out


def test_session_round_trip(server):
    c = Client(server[0])
    session = c.open()
    result, ds = c.ds(8192)
    assert result == OK
    result, out = c.attach(session, ds, 0x100000)
    assert result == OK and struct.unpack("<QQ", out) == (0x100000, 8192)
    result, out = c.call("SESSION_QUOTA", struct.pack("<Q", session))
    ram_limit, ram_used, cap_limit, cap_used = struct.unpack("<QQQQ", out)
    assert (ram_limit, cap_limit, cap_used) == (MIB, 10, 1)
    assert ram_used > 8192  # the session cost plus the region and its nested tables
    result, out = c.call("VCPU_CREATE", struct.pack("<QI", session, 0))
    assert result == OK and struct.unpack("<QI", out)[1] == 0
    vcpu = struct.unpack_from("<Q", out)[0]
    result, out = c.call("VCPU_STATE_GET", struct.pack("<Q", vcpu))
    assert result == OK
    exit_reason = struct.unpack_from("<I", out, 8 + 52 * 8 + 8 * 16 + 2 * 12)[0]
    assert exit_reason == 0xfe  # STARTUP
    assert c.call("SESSION_CLOSE", struct.pack("<Q", session))[0] == OK
    assert c.call("SESSION_CLOSE", struct.pack("<Q", session))[0] == INVALID_CAP
    c.close()


def test_malformed_frames_get_error_replies(server):
    c = Client(server[0])
    assert c.raw(frame(0x77, b"", seq=5))[1:3] == (5, UNSUPPORTED)
    assert c.raw(frame(OP["DS_ALLOC"], struct.pack("<Q", 4096) + b"\0", seq=6))[2] == INVALID_ARGUMENT
    assert c.raw(frame(OP["DS_ALLOC"], b"\1\2\3", seq=7))[2] == INVALID_ARGUMENT
    assert c.raw(frame(OP["DS_ALLOC"], struct.pack("<Q", 4096), version=2))[2] == UNSUPPORTED
    assert c.raw(frame(OP["ATTACH"], struct.pack("<QQQQQI", 1, 2, 3, 4, 5, 0x10)))[2] == INVALID_ARGUMENT
    assert c.raw(frame(OP["DS_ALLOC"] | REPLY, struct.pack("<Q", 4096)))[2] == UNSUPPORTED
    # after all that, the connection still serves
    assert c.ds(4096)[0] == OK
    # an announced payload over the bound loses the framing: one DENIED reply, then the close
    assert c.raw(frame(OP["DS_ALLOC"], b"", seq=9, length=4097))[1:3] == (9, DENIED)
    with pytest.raises((EOFError, ConnectionResetError)):
        c.reply()
    c.close()


def test_garbage_does_not_disturb_other_clients(server):
    good = Client(server[0])
    session = good.open()
    stop = threading.Event()

    def vandal():
        rng = 12345
        while not stop.is_set():
            v = Client(server[0])
            try:
                for _ in range(50):
                    rng = (rng * 1103515245 + 12345) & 0x7FFFFFFF
                    junk = bytes((rng >> (i % 24)) & 0xFF for i in range(rng % 64))
                    v.raw(frame(rng % 20, junk, seq=rng))
                v.sock.sendall(b"\x05\x00")  # a torn header, then gone
            except (EOFError, ConnectionResetError, BrokenPipeError):
                pass
            v.close()

    threads = [threading.Thread(target=vandal) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(200):
            result, ds = good.ds(4096)
            assert result == OK
            assert good.attach(session, ds, (i + 1) << 20)[0] == OK
            assert good.call("DETACH", struct.pack("<QQQ", session, (i + 1) << 20, 4096))[0] == OK
            assert good.call("DS_FREE", struct.pack("<Q", ds))[0] == OK
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert server[1].poll() is None
    good.close()


def test_caps_do_not_cross_clients(server):
    a, b = Client(server[0]), Client(server[0])
    session = a.open()
    _, ds = a.ds(4096)
    assert b.call("SESSION_QUOTA", struct.pack("<Q", session))[0] == INVALID_CAP
    assert b.call("DS_FREE", struct.pack("<Q", ds))[0] == INVALID_CAP
    b_session = b.open()
    assert b.attach(b_session, ds, 0)[0] == INVALID_DATASPACE
    assert a.attach(session, ds, 0)[0] == OK
    a.close()
    b.close()


def test_disconnect_returns_quota(server):
    a, b = Client(server[0]), Client(server[0])
    assert a.ds(10 * MIB)[0] == OK
    a.open(ram=MIB)
    # the env pool (16 MiB) is taken by a; b's own budget (12 MiB) does not help
    assert b.ds(10 * MIB)[0] == OUT_OF_RAM
    a.close()
    deadline = time.monotonic() + 10
    while b.ds(10 * MIB)[0] != OK:
        assert time.monotonic() < deadline, "a's objects were not destroyed on disconnect"
        time.sleep(0.02)
    result, out = b.call("CLIENT_QUOTA")
    assert struct.unpack("<QQQQ", out)[1] == 10 * MIB
    b.close()


def test_clients_are_served_concurrently(server):
    errors = []

    def worker(n):
        try:
            c = Client(server[0])
            session = c.open(ram=MIB)
            for i in range(40):
                result, ds = c.ds(4096)
                assert result == OK
                assert c.attach(session, ds, i << 21)[0] == OK
            c.close()
        except Exception as e:  # reported below with the worker's number
            errors.append((n, repr(e)))

    # one client stalls mid-frame the whole time: nobody else may wait for it
    staller = Client(server[0])
    staller.sock.sendall(frame(OP["DS_ALLOC"], struct.pack("<Q", 4096))[:7])
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    staller.close()
    assert not errors
