#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""pixiecore under hostile input, on the wire between two network namespaces of its own.

Creates namespaces "server" and "client" joined by a veth pair (10.79.X.1/24 server side,
10.79.X.2/24 client side; X derived from the pid). Runs the real pixiecore in the server namespace
(binds 0.0.0.0:67, :4011, :69 and :80 there; -max-sessions 256 -max-tftp-transfers 32
-max-http-conns-per-client 64, no -debug) and attacks it from the client namespace:

  1. baseline: a BIOS DISCOVER gets an OFFER; the daemon's VmRSS is recorded;
  2. bounded floods (each at most 20 000 packets and 8 s): random datagrams to 67 and 4011,
     mutated DISCOVERs (truncation, byte flips, option length lies, option-overload loops,
     bad magic, odd htype/hlen/op, huge and repeated options), DISCOVERs from >= 5000 random MACs,
     malformed TFTP (bad opcodes, missing NULs, absurd blksize/windowsize, ERRORs), TFTP RRQs that
     never ACK (over the transfer cap RRQs go unanswered; stale transfers time out), ACK storms and
     spoofed TIDs (ERROR 5) on transfer ports;
  3. TFTP path traversal: every reply is ERROR 1/2/4, never DATA or OACK;
  4. HTTP: 100 KiB of headers, a 64 KiB request line, 50 slowloris connections while a normal GET
     of the kernel completes in < 2 s, CL+TE, duplicate CL, absolute-form, `..`/%2e%2e paths;
  5. afterwards: same PID alive, DISCOVER -> OFFER within 1 s, TFTP and HTTP downloads
     byte-identical, VmRSS growth < 32 MiB, no critical/ERROR:/sanitizer lines in the log.

The flood senders run as this same script in worker mode (`--worker KIND`) inside the client
namespace (ip netns exec); they print one JSON object. Needs root; prints TAP; exits 0 when
every test passed, 1 otherwise, 77 (skip) without root, ip or curl. All traffic stays inside the
two namespaces, which are deleted at exit (also on failure or SIGTERM). Every loop is bounded in
count and time.

The daemon gets ASAN_OPTIONS=quarantine_size_mb=1 (prepended) so that a sanitizer build passes the
RSS checks too.

Environment: PIXIECORE (the binary; default <source>/build/src/pixiecore), PX_SOURCE_ROOT,
PXT_SUBNET_X (third octet override), PXT_KEEP=1 (keep the temp dir with the daemon log).
"""

import importlib.util
import json
import os
import random
import select
import socket
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pxtest  # noqa: E402
from pxtest import CLIENT, PYTHON, tap  # noqa: E402

SELF = os.path.abspath(__file__)

_spec = importlib.util.spec_from_file_location('pxe_client', CLIENT)
pxc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pxc)

MAC = '52:54:00:12:34:56'
DMAC = '52-54-00-12-34-56'
MAX_PACKETS = 20000
MAX_SECONDS = 8.0
RSS_LIMIT_KIB = 32 * 1024

# ---------------------------------------------------------------------------
# Worker mode: runs inside the client namespace, prints one JSON object
# ---------------------------------------------------------------------------


class Budget:
    """Bounds a loop by count and time."""

    def __init__(self, count=MAX_PACKETS, seconds=MAX_SECONDS):
        self.count, self.seconds = count, seconds
        self.start = time.monotonic()
        self.sent = 0

    def more(self):
        return self.sent < self.count and time.monotonic() - self.start < self.seconds

    def elapsed(self):
        return round(time.monotonic() - self.start, 3)


def udp_socket(port=0, iface='veth-c', broadcast=False):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if broadcast:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    if iface:
        s.setsockopt(socket.SOL_SOCKET, pxc.SO_BINDTODEVICE, iface.encode())
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind(('0.0.0.0', port))
    s.setblocking(False)
    return s


def drain(sock, limit=256):
    """Non-blocking: returns the (data, addr) pairs waiting on sock (at most limit)."""
    got = []
    for _ in range(limit):
        try:
            got.append(sock.recvfrom(65535))
        except (BlockingIOError, InterruptedError):
            break
        except OSError:
            continue
    return got


def send(sock, data, addr):
    try:
        sock.sendto(data, addr)
        return True
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return False


def rand_mac(rng):
    return bytes([0x02 | (rng.getrandbits(8) & 0xfc)] + [rng.getrandbits(8) for _ in range(5)])


def count_dhcp_replies(got, counts):
    for data, _ in got:
        p = pxc.parse_packet(data)
        mt = pxc.option(p, 53)
        key = f'type{mt[0]}' if mt else 'other'
        counts[key] = counts.get(key, 0) + 1


def w_garbage(server, rng):
    s = udp_socket(port=68, broadcast=True)
    b = Budget()
    counts = {}
    while b.more():
        n = rng.randint(0, 1600)
        data = rng.randbytes(n)
        if b.sent % 4 == 0 and n >= 1:
            data = b'\x01' + data[1:]  # looks like a BOOTREQUEST more often
        port = 67 if b.sent % 2 == 0 else 4011
        send(s, data, (server, port))
        b.sent += 1
        if b.sent % 64 == 0:
            count_dhcp_replies(drain(s), counts)
    time.sleep(0.3)
    count_dhcp_replies(drain(s, 100000), counts)
    return {'sent': b.sent, 'seconds': b.elapsed(), 'replies': counts}


def overload_garbage(rng, length):
    """Option bytes for sname/file: garbage, nested option 52 loops, lying lengths, no END."""
    out_ = bytearray()
    while len(out_) < length:
        k = rng.randint(0, 5)
        if k == 0:
            out_ += bytes([52, 1, rng.choice([1, 2, 3])])
        elif k == 1:
            out_ += bytes([rng.randint(1, 254), 255])  # lies: longer than the field
        elif k == 2:
            out_ += bytes([53, 1, 1])
        elif k == 3:
            out_ += bytes([60, 9]) + b'PXEClient'
        else:
            out_ += rng.randbytes(rng.randint(1, 8))
    return bytes(out_[:length])


def mutated_discover(rng):
    mac = rand_mac(rng) if rng.random() < 0.5 else pxc.mac_bytes(MAC)
    kind = rng.randint(0, 13)
    pkt = bytearray(pxc.build_packet(mac=mac, arch=rng.choice([0, 6, 7, 9, 11]), xid=rng.getrandbits(32)))
    if kind == 0:  # truncated
        pkt = pkt[:rng.randint(0, len(pkt))]
    elif kind == 1:  # random byte flips
        for _ in range(rng.randint(1, 12)):
            i = rng.randrange(len(pkt))
            pkt[i] ^= 1 << rng.randrange(8)
    elif kind == 2:  # an option length lies
        pos = 240
        idx = []
        while pos + 1 < len(pkt) and pkt[pos] != 255:
            idx.append(pos + 1)
            pos += 2 + pkt[pos + 1]
        if idx:
            pkt[rng.choice(idx)] = rng.choice([0, 255, rng.randint(1, 255)])
        if rng.random() < 0.5:
            pkt = pkt[:-1]  # and no END
    elif kind == 3:  # option overload pointing at garbage sname/file
        pkt[44:108] = overload_garbage(rng, 64)
        pkt[108:236] = overload_garbage(rng, 128)
        pkt = pkt[:-1] + pxc.opt(52, [rng.choice([1, 2, 3])]) + bytes([255])
        if rng.random() < 0.3:  # option 52 repeated, and a second one inside the options
            pkt = pkt[:-1] + pxc.opt(52, [3]) + pxc.opt(52, [rng.randint(0, 255)]) + bytes([255])
    elif kind == 4:  # wrong magic
        pkt[236:240] = rng.randbytes(4)
    elif kind == 5:  # hlen 0/16/255
        pkt[2] = rng.choice([0, 16, 255])
    elif kind == 6:  # htype 6
        pkt[1] = 6
    elif kind == 7:  # op 2
        pkt[0] = 2
    elif kind == 8:  # huge option 55 (RFC 3396 split)
        prl = rng.randbytes(rng.randint(256, 1200))
        pkt = pkt[:-1] + pxc.opt(55, prl) + bytes([255])
    elif kind == 9:  # repeated options: RFC 3396 concatenation of 60/43/97/93/175
        extra = b''
        code = rng.choice([60, 43, 97, 93, 94, 175, 77, 53])
        for _ in range(rng.randint(2, 6)):
            extra += bytes([code, 255]) + rng.randbytes(255)
        pkt = pkt[:-1] + extra + bytes([255])
    elif kind == 10:  # garbage encapsulated options (43/175) and odd sizes of 93/97/57/53
        extra = pxc.opt(43, rng.randbytes(rng.randint(0, 255))) + pxc.opt(175, rng.randbytes(rng.randint(0, 255)))
        extra += bytes([93, rng.choice([0, 1, 3, 5])]) + rng.randbytes(5)
        extra += bytes([97, rng.choice([0, 1, 16, 18])]) + rng.randbytes(18)
        extra += bytes([57, 1, 0]) + bytes([53, 0])
        pkt = pkt[:240] + extra + bytes(pkt[240:])
    elif kind == 11:  # many pad bytes, no END, max UDP payload
        pkt = pkt[:-1] + bytes(rng.randint(0, 1200))
    elif kind == 12:  # huge packet of repeated small options
        pkt = pkt[:-1] + bytes([60, 1, 0x50]) * rng.randint(100, 450) + bytes([255])
    else:  # zero-length and oversize vendor class tricks
        pkt = pkt[:240] + bytes([60, 0, 60, 0, 53, 1, 1, 60, 9]) + b'PXEClient' + bytes([255])
    return bytes(pkt)


def w_mutate(server, rng):
    s = udp_socket(port=68, broadcast=True)
    b = Budget()
    counts = {}
    while b.more():
        pkt = mutated_discover(rng)
        r = b.sent % 3
        dest = (server, 67) if r == 0 else (('255.255.255.255', 67) if r == 1 else (server, 4011))
        send(s, pkt, dest)
        b.sent += 1
        if b.sent % 64 == 0:
            count_dhcp_replies(drain(s), counts)
    time.sleep(0.3)
    count_dhcp_replies(drain(s, 100000), counts)
    return {'sent': b.sent, 'seconds': b.elapsed(), 'replies': counts}


def w_macs(server, rng, count=8000):
    s = udp_socket(port=68, broadcast=True)
    b = Budget(count=count)
    counts = {}
    macs = set()
    while b.more():
        mac = rand_mac(rng)
        while mac in macs:
            mac = rand_mac(rng)
        macs.add(mac)
        pkt = pxc.build_packet(mac=mac, arch=rng.choice([0, 7]), xid=rng.getrandbits(32))
        send(s, pkt, ('255.255.255.255', 67) if b.sent % 2 else (server, 67))
        b.sent += 1
        if b.sent % 32 == 0:
            count_dhcp_replies(drain(s), counts)
            time.sleep(0.0005)  # keep most of them from being dropped in the socket buffers
    time.sleep(0.5)
    count_dhcp_replies(drain(s, 100000), counts)
    return {'sent': b.sent, 'distinct_macs': len(macs), 'seconds': b.elapsed(), 'replies': counts}


def rrq(name, mode=b'octet', **opts):
    if isinstance(name, str):
        name = name.encode()
    body = b'\x00\x01' + name + b'\0' + mode + b'\0'
    for k, v in opts.items():
        body += k.encode() + b'\0' + str(v).encode() + b'\0'
    return body


def tftp_kind(data):
    if len(data) < 2:
        return 'short', None
    op = struct.unpack('!H', data[:2])[0]
    if op == 3:
        return 'data', struct.unpack('!H', data[2:4])[0] if len(data) >= 4 else None
    if op == 5:
        return 'error', struct.unpack('!H', data[2:4])[0] if len(data) >= 4 else None
    if op == 6:
        return 'oack', None
    return f'op{op}', None


def tally_and_abort(sock, got, counts):
    for data, addr in got:
        k = tftp_kind(data)
        key = f'{k[0]}{k[1] if k[0] == "error" else ""}'
        counts[key] = counts.get(key, 0) + 1
        if k[0] in ('data', 'oack') and addr[1] != 69:
            send(sock, b'\x00\x05\x00\x00abort\0', addr)  # give the slot back


def w_tftp_bad(server, rng):
    socks = [udp_socket() for _ in range(32)]
    b = Budget()
    counts = {}
    real = f'{DMAC}/undionly.kpxe'
    gens = [
        lambda: struct.pack('!H', rng.choice([0, 7, 8, 255, 0xffff, rng.randint(7, 0xffff)])) + rng.randbytes(rng.randint(0, 600)),
        lambda: b'\x00\x01' + rng.choice([b'', b'foo', real.encode(), real.encode() + b'\0octet']),  # missing NULs
        lambda: b'\x00\x02' + b'upload\0octet\0',  # WRQ
        lambda: rrq('nosuchfile', blksize=rng.choice(['65535', '0', '-1', '99999999', '8', 'x', ''])),
        lambda: rrq('nosuchfile', windowsize=rng.choice(['0', '65536', '-5', '999999999999'])),
        lambda: rrq(real, mode=rng.choice([b'netascii', b'mail', b'', b'OCTET\xff'])),
        lambda: rrq(real, blksize=rng.choice(['65535', '0', '-1', '99999999']),
                    windowsize=rng.choice(['0', '65536', '1']), tsize='0', timeout=rng.choice(['0', '255', '-1'])),
        lambda: rrq('x', **{'blksize': '1468', 'blksize ': '9'}) + b'dangling\0',  # odd option list
        lambda: b'\x00\x05' + struct.pack('!H', rng.randint(0, 9)) + rng.randbytes(rng.randint(0, 40)),  # ERROR
        lambda: b'\x00\x04' + rng.randbytes(rng.randint(0, 4)),  # ACK to the listen port
        lambda: b'\x00\x03' + rng.randbytes(rng.randint(0, 600)),  # DATA to the listen port
        lambda: b'\x00\x01' + rng.randbytes(rng.randint(0, 1400)),
        lambda: rrq('a' * rng.randint(200, 1400)),
    ]
    while b.more():
        pkt = rng.choice(gens)()
        send(socks[b.sent % len(socks)], pkt, (server, 69))
        b.sent += 1
        if b.sent % 64 == 0:
            for s in socks:
                tally_and_abort(s, drain(s), counts)
    time.sleep(0.3)
    for s in socks:
        tally_and_abort(s, drain(s, 100000), counts)
    return {'sent': b.sent, 'seconds': b.elapsed(), 'replies': counts}


def wait_tftp_free(server, seconds=20.0):
    """Polls with a real RRQ until it is accepted (over the cap RRQs go unanswered); aborts it.
    Returns the seconds it took, or None."""
    start = time.monotonic()
    s = udp_socket()
    try:
        while time.monotonic() - start < seconds:
            send(s, rrq(f'{DMAC}/undionly.kpxe'), (server, 69))
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                r, _, _ = select.select([s], [], [], max(0.0, deadline - time.monotonic()))
                if not r:
                    break
                for data, addr in drain(s):
                    k = tftp_kind(data)
                    if k[0] in ('data', 'oack'):
                        send(s, b'\x00\x05\x00\x00done\0', addr)
                        return round(time.monotonic() - start, 2)
            time.sleep(0.2)
        return None
    finally:
        s.close()


def w_tftp_hold(server, rng, n=100):
    """n RRQs from n source ports, never ACKed; then ACK storms, spoofed TIDs, ERRORs; then the
    time until the stale transfers are gone."""
    res = {'drained_before': wait_tftp_free(server)}
    socks = [udp_socket() for _ in range(n)]
    t_rrq = time.monotonic()
    for s in socks:
        send(s, rrq(f'{DMAC}/undionly.kpxe'), (server, 69))
    transfer = {}  # sock index -> transfer addr
    busy = 0
    other = {}
    deadline = time.monotonic() + 2.0
    pending = set(range(n))
    while pending and time.monotonic() < deadline:
        r, _, _ = select.select([socks[i] for i in pending], [], [], 0.2)
        for s in r:
            i = socks.index(s)
            for data, addr in drain(s):
                k = tftp_kind(data)
                if k[0] == 'data' and k[1] == 1 and addr[1] != 69:
                    transfer[i] = addr
                    pending.discard(i)
                elif k[0] == 'error' and k[1] == 0 and b'busy' in data and addr[1] == 69:
                    busy += 1
                    pending.discard(i)
                else:
                    other[f'{k[0]}{k[1]}'] = other.get(f'{k[0]}{k[1]}', 0) + 1
    res.update(rrqs=n, started=len(transfer), busy=busy, unanswered=len(pending), other=other)

    # ACK storm with random block numbers (never 1: the transfers must stay stale) and malformed
    # ACKs, from the right source port
    b = Budget(seconds=4.0)
    owners = list(transfer.items())
    while owners and b.more():
        i, addr = owners[b.sent % len(owners)]
        blk = rng.randint(2, 0xffff) if rng.random() < 0.8 else 0
        pkt = b'\x00\x04' + struct.pack('!H', blk)
        if rng.random() < 0.1:  # malformed ACKs (still opcode 4, never block 1: no ERROR, no progress)
            pkt = rng.choice([b'\x00\x04', b'\x00\x04' + rng.randbytes(1), pkt + rng.randbytes(rng.randint(1, 600))])
        send(socks[i], pkt, addr)
        b.sent += 1
        if b.sent % 256 == 0:
            for s in socks:
                drain(s)
    res.update(ack_storm=b.sent, ack_storm_seconds=b.elapsed())

    # spoofed TIDs: another source port -> ERROR 5 (and the transfer goes on)
    spoof = udp_socket()
    tid_errors = 0
    tid_other = 0
    for i, addr in owners[:16]:
        send(spoof, b'\x00\x04\x00\x01', addr)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            r, _, _ = select.select([spoof], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            got = drain(spoof)
            for data, a in got:
                k = tftp_kind(data)
                if k == ('error', 5) and a == addr:
                    tid_errors += 1
                else:
                    tid_other += 1
            if got:
                break
    # ERROR packets from the spoofing port must not end anyone's transfer, nor be answered
    for i, addr in owners[:16]:
        send(spoof, b'\x00\x05\x00\x00spoofed abort\0', addr)
    time.sleep(0.3)
    answered_errors = len(drain(spoof))
    spoof.close()
    res.update(spoof_probes=min(16, len(owners)), spoof_error5=tid_errors, spoof_other=tid_other,
               replies_to_spoofed_errors=answered_errors)

    # the owners' transfers still retransmit block 1 (the spoofed ERRORs did not end them)
    deadline = time.monotonic() + 2.5
    seen = set()
    while time.monotonic() < deadline and len(seen) < min(16, len(owners)):
        r, _, _ = select.select([socks[i] for i, _ in owners[:16]], [], [], 0.2)
        for s in r:
            for data, _ in drain(s):
                if tftp_kind(data) == ('data', 1):
                    seen.add(socks.index(s))
    still = len(seen)
    res['spoofed_still_alive'] = still

    # stale transfers time out: a new RRQ is accepted again
    t0 = time.monotonic()
    res['freed_after'] = wait_tftp_free(server, seconds=20.0)
    res['freed_wait_total'] = round(time.monotonic() - t0, 2)
    res['since_rrqs'] = round(time.monotonic() - t_rrq, 2)
    for s in socks:
        s.close()
    # all of them are gone: a fresh batch of 32 RRQs is accepted in full. The first free slot
    # may have been a leftover of an earlier flood, so the batch retransmits unanswered RRQs
    # once a second, as firmware does (over the cap the daemon stays silent), for up to 10 s.
    fresh = [udp_socket() for _ in range(32)]
    accepted = {}
    refused = 0
    deadline = time.monotonic() + 10.0
    next_send = 0.0
    while time.monotonic() < deadline and len(accepted) + refused < len(fresh):
        if time.monotonic() >= next_send:
            for i, s in enumerate(fresh):
                if i not in accepted:
                    send(s, rrq(f'{DMAC}/undionly.kpxe'), (server, 69))
            next_send = time.monotonic() + 1.0
        r, _, _ = select.select(fresh, [], [], 0.2)
        for s in r:
            for data, addr in drain(s):
                k = tftp_kind(data)
                if k == ('data', 1) and addr[1] != 69:
                    accepted[fresh.index(s)] = addr
                elif k[0] == 'error':
                    refused += 1
    for i, addr in accepted.items():
        send(fresh[i], b'\x00\x05\x00\x00done\0', addr)
    res.update(fresh_accepted=len(accepted), fresh_refused=refused)
    for s in fresh:
        s.close()
    return res


TRAVERSAL = [
    b'../../../../etc/passwd', b'/etc/passwd', f'{DMAC}/../../etc/passwd'.encode(),
    b'undionly.kpxe/../../etc/shadow', f'{DMAC}/undionly.kpxe/../../../etc/shadow'.encode(),
    b'%2e%2e/etc/passwd', f'{DMAC}/%2e%2e/%2e%2e/etc/passwd'.encode(), b'..\\..\\etc\\passwd',
    f'{DMAC}/undionly.kpxe\0../../etc/passwd'.encode(), b'../../etc/passwd\0undionly.kpxe',
    b'a' * 300, f'{DMAC}/'.encode() + b'b' * 300, (b'../' * 100)[:300], b'//etc//passwd',
    f'{DMAC}//etc/passwd'.encode(), b'./undionly.kpxe/../../../etc/passwd', b'\xff\xfe/../etc/passwd',
]


def w_traversal(server, rng):
    res = {'drained_before': wait_tftp_free(server), 'results': []}
    s = udp_socket()
    for name in TRAVERSAL:
        for opts in ({}, {'blksize': '1468', 'tsize': '0'}):
            drain(s)
            send(s, rrq(name, **opts), (server, 69))
            got = []
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline and not got:
                r, _, _ = select.select([s], [], [], max(0.0, deadline - time.monotonic()))
                if r:
                    got = drain(s)
            kinds = [tftp_kind(d) for d, _ in got]
            for d, a in got:
                if tftp_kind(d)[0] in ('data', 'oack'):
                    send(s, b'\x00\x05\x00\x00no\0', a)
            res['results'].append({'name': name.hex(), 'opts': bool(opts), 'replies': kinds,
                                   'leak': any(b'root:' in d for d, _ in got)})
    s.close()
    return res


def http_exchange(server, raw, read_seconds=5.0):
    """Sends raw bytes (ignoring send errors: the server may close early), returns (status or
    None, all bytes received, note)."""
    c = socket.create_connection((server, 80), timeout=5)
    note = ''
    try:
        try:
            c.sendall(raw)
        except OSError as e:
            note = f'send: {e.__class__.__name__}'
        data = b''
        deadline = time.monotonic() + read_seconds
        c.settimeout(0.5)
        while time.monotonic() < deadline and len(data) < 4 << 20:
            try:
                chunk = c.recv(65536)
            except socket.timeout:
                continue
            except OSError as e:
                note += f' recv: {e.__class__.__name__}'
                break
            if not chunk:
                break
            data += chunk
    finally:
        c.close()
    status = None
    if data.startswith(b'HTTP/'):
        try:
            status = int(data.split(b' ', 2)[1])
        except (IndexError, ValueError):
            pass
    return status, data, note.strip()


def w_http(server, rng):
    res = {}
    ipxe = f'/_/ipxe?mac={MAC}&arch=0'
    hdrs = b''.join(b'X-Pad-%d: %s\r\n' % (i, b'a' * 1000) for i in range(100))
    raw = f'GET {ipxe} HTTP/1.1\r\nHost: {server}\r\n'.encode() + hdrs + b'Connection: close\r\n\r\n'
    st, data, note = http_exchange(server, raw)
    res['big_headers'] = {'status': st, 'len': len(data), 'note': note}
    raw = b'GET /' + b'a' * 65536 + f' HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n'.encode()
    st, data, note = http_exchange(server, raw)
    res['long_line'] = {'status': st, 'len': len(data), 'note': note}
    # CL + TE on a GET, followed by a smuggled request for a file outside what is served
    smuggled = b'GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'
    body = b'0\r\n\r\n' + smuggled
    raw = (f'GET {ipxe} HTTP/1.1\r\nHost: {server}\r\nContent-Length: {len(body)}\r\n'
           'Transfer-Encoding: chunked\r\n\r\n').encode() + body
    st, data, note = http_exchange(server, raw, read_seconds=3)
    res['cl_te'] = {'status': st, 'statuses': [int(x.split(b' ')[1]) for x in data.split(b'\r\n') if x.startswith(b'HTTP/1.')],
                    'leak': b'root:' in data, 'note': note}
    raw = (f'GET {ipxe} HTTP/1.1\r\nHost: {server}\r\nContent-Length: 0\r\nContent-Length: 48\r\n'
           'Connection: close\r\n\r\n').encode() + smuggled
    st, data, note = http_exchange(server, raw, read_seconds=3)
    res['two_cl'] = {'status': st, 'statuses': [int(x.split(b' ')[1]) for x in data.split(b'\r\n') if x.startswith(b'HTTP/1.')],
                     'leak': b'root:' in data, 'note': note}
    raw = (f'GET http://evil.example:666{ipxe} HTTP/1.1\r\nHost: evil.example:666\r\nConnection: close\r\n\r\n').encode()
    st, data, note = http_exchange(server, raw)
    res['absolute_form'] = {'status': st, 'evil_in_body': b'evil' in data.split(b'\r\n\r\n', 1)[-1],
                            'names_server': server.encode() in data, 'note': note}
    paths = ['/../../../../etc/passwd', '/_/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd',
             f'/_/file/{DMAC}/../../../../etc/passwd', f'/_/file/{DMAC}/%2e%2e/%2e%2e/etc/passwd',
             f'/_/file/{DMAC}/..%2f..%2f..%2fetc%2fpasswd', '/_/file/%2e%2e%2f%2e%2e%2fetc%2fpasswd/kernel',
             '/%2e%2e%2f%2e%2e%2fetc%2fshadow', '/_/file/../../etc/passwd', '/etc/passwd', '//etc/passwd']
    res['paths'] = []
    for p in paths:
        raw = f'GET {p} HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n'.encode()
        st, data, note = http_exchange(server, raw)
        res['paths'].append({'path': p, 'status': st, 'leak': b'root:' in data, 'note': note})
    return res


def w_slowloris(server, rng, conns=50, seconds=10.0):
    socks = []
    for _ in range(conns):
        try:
            c = socket.create_connection((server, 80), timeout=2)
            c.sendall(b'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ')
            c.setblocking(False)
            socks.append(c)
        except OSError:
            pass
    opened = len(socks)
    start = time.monotonic()
    closed_by_server = 0
    ticks = 0
    while socks and time.monotonic() - start < seconds and ticks < 60:
        ticks += 1
        time.sleep(1.0)
        for c in list(socks):
            try:
                c.send(b'a')
                try:
                    if c.recv(4096) == b'':
                        raise ConnectionResetError()
                except BlockingIOError:
                    pass
            except OSError:
                closed_by_server += 1
                socks.remove(c)
                c.close()
    for c in socks:
        c.close()
    return {'opened': opened, 'closed_by_server': closed_by_server, 'seconds': round(time.monotonic() - start, 2)}


WORKERS = {'garbage': w_garbage, 'mutate': w_mutate, 'macs': w_macs, 'tftp-bad': w_tftp_bad,
           'tftp-hold': w_tftp_hold, 'traversal': w_traversal, 'http': w_http, 'slowloris': w_slowloris}


def worker_main(kind, server, seed):
    rng = random.Random(seed)
    res = WORKERS[kind](server, rng)
    print(json.dumps(res))
    return 0

# ---------------------------------------------------------------------------
# The lab: two namespaces and the daemon
# ---------------------------------------------------------------------------


class Lab(pxtest.Lab):
    def __init__(self):
        # the temp dir is made by up(): worker-mode runs of this script must not create one
        super().__init__('pxh', '10.79', 'pxt-hostile-')
        self.rss_peak = 0
        self.rss_samples = 0
        self._sampler_stop = threading.Event()
        self._sampler = None

    def down(self):
        self.stop_sampler()
        super().down()

    def start_daemon(self):
        self.kernel = self.file('vmlinuz', b'KERNEL' + os.urandom(256 * 1024))
        self.initrd = self.file('initrd.img', b'INITRD' + os.urandom(4096))
        self.undionly = self.file('undionly.kpxe', b'UNDI' + os.urandom(40000))
        self.ipxe_efi = self.file('ipxe.efi', b'EFI' + os.urandom(2000))
        self.config = self.file('pixiecore.conf', b'[pixiecore]\n')
        args = ['-config', self.config, '-kernel', self.kernel, '-initrd', self.initrd,
                '-cmdline', 'console=ttyS0', '-ipxe-bios', self.undionly, '-ipxe-efi64', self.ipxe_efi,
                '-max-sessions', '256', '-max-tftp-transfers', '32',
                # all 50 slowloris connections come from one address: let them in, so that the
                # request timeout, not the per-client cap (test-http-limits), is what is tested
                '-max-http-conns-per-client', '64']
        # An AddressSanitizer build keeps up to 256 MiB of freed memory in quarantine, which the
        # RSS checks would take for growth: a small quarantine by default (settings already in
        # ASAN_OPTIONS win). No effect on an uninstrumented binary.
        env = dict(os.environ)
        env['ASAN_OPTIONS'] = 'quarantine_size_mb=1:thread_local_quarantine_size_kb=64' + (
            ':' + env['ASAN_OPTIONS'] if env.get('ASAN_OPTIONS') else '')
        # ip netns exec execs the daemon: the Popen pid is the daemon's pid
        if self.launch_daemon(args, env=env):
            return True
        self.diag_not_started()
        return False

    def rss_kib(self):
        try:
            with open(f'/proc/{self.daemon.pid}/status') as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        return int(line.split()[1])
        except (OSError, AttributeError, ValueError):
            pass
        return None

    def start_sampler(self):
        def run():
            while not self._sampler_stop.wait(0.05):
                v = self.rss_kib()
                if v:
                    self.rss_peak = max(self.rss_peak, v)
                    self.rss_samples += 1
        self._sampler = threading.Thread(target=run, daemon=True)
        self._sampler.start()

    def stop_sampler(self):
        self._sampler_stop.set()
        if self._sampler:
            self._sampler.join(timeout=2)

    def worker(self, kind, seed=1, timeout=60, background=False):
        cmd = ['ip', 'netns', 'exec', self.cli, PYTHON, SELF, '--worker', kind, '--server', self.server_ip,
               '--seed', str(seed)]
        if background:
            return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            tap.diag(f'worker {kind} hung')
            return None
        if p.returncode != 0 or not p.stdout.strip():
            tap.diag(f'worker {kind} failed (rc {p.returncode}):\n{p.stderr[-3000:]}')
            return None
        return json.loads(p.stdout)

    def client(self, *args, timeout=1.0, replies=None):
        return super().client(*args, timeout=timeout, replies=replies, src_port=None)

    def curl(self, *args, timeout=20):
        cmd = ['ip', 'netns', 'exec', self.cli, 'curl', '-s', '--max-time', '10', *args]
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, time.monotonic() - t0
        return p, time.monotonic() - t0


lab = Lab()

# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


def discover_offer(name, mac=MAC, timeout=1.0):
    t0 = time.monotonic()
    r = lab.client('--arch', '0', '--mac', mac, '--match-xid', timeout=timeout, replies=1)
    took = time.monotonic() - t0
    offers = [x for x in (r or {}).get('replies', []) if pxc.option(x, 53) == b'\x02']
    ok = tap.ok(offers and offers[0].get('at', 9) <= 1.0, f'{name}: DISCOVER gets an OFFER within 1 s',
                f'result {r}')
    if offers:
        tap.diag(f'{name}: OFFER after {offers[0].get("at")} s (client run {took:.2f} s), file {offers[0].get("file")}')
    return ok


def flood(kind, name, seed):
    rss0 = lab.rss_kib()
    r = lab.worker(kind, seed=seed)
    rss1 = lab.rss_kib()
    if r is not None:
        tap.diag(f'{name}: {json.dumps(r)}')
        tap.diag(f'{name}: VmRSS {rss0} -> {rss1} KiB')
    tap.ok(r is not None, f'{name}: flood ran')
    tap.ok(lab.alive(), f'{name}: daemon still alive')
    return r


def main_tests():
    pid = lab.daemon.pid
    tap.diag(f'daemon pid {pid}, server {lab.srv} {lab.server_ip}, client {lab.cli} {lab.client_ip}')
    # 1. baseline
    discover_offer('baseline')
    time.sleep(0.3)
    base = lab.rss_kib()
    tap.ok(base is not None, f'baseline VmRSS read ({base} KiB)')
    lab.start_sampler()

    # 2. floods
    g = flood('garbage', 'random datagrams to 67/4011', 11)
    if g:
        tap.ok(g['sent'] >= 1000, f'random datagrams: {g["sent"]} sent in {g["seconds"]} s')
    m = flood('mutate', 'mutated DISCOVERs', 12)
    if m:
        tap.ok(m['sent'] >= 1000, f'mutated DISCOVERs: {m["sent"]} sent in {m["seconds"]} s')
    mm = flood('macs', 'DISCOVERs from random MACs', 13)
    if mm:
        tap.ok(mm['distinct_macs'] >= 5000, f'random MACs: {mm["distinct_macs"]} distinct in {mm["seconds"]} s')
        tap.ok(mm['replies'].get('type2', 0) > 0, f'random MACs: some OFFERs came back ({mm["replies"]})')
    rss_macs = lab.rss_kib()
    if base and rss_macs:
        tap.ok(rss_macs - base < RSS_LIMIT_KIB, f'VmRSS after the MAC flood within 32 MiB of baseline '
               f'({base} -> {rss_macs} KiB)')
    # second MAC flood: with the session table capped, memory must not keep growing
    mm2 = flood('macs', 'DISCOVERs from random MACs (second round)', 14)
    rss_macs2 = lab.rss_kib()
    if rss_macs and rss_macs2:
        tap.ok(rss_macs2 - rss_macs < 4 * 1024, f'second MAC flood: VmRSS {rss_macs} -> {rss_macs2} KiB (< 4 MiB more)')
    discover_offer('after the DHCP floods')

    tb = flood('tftp-bad', 'malformed TFTP', 15)
    if tb:
        tap.ok(tb['sent'] >= 1000, f'malformed TFTP: {tb["sent"]} sent in {tb["seconds"]} s')
    discover_offer('before the TFTP hold test')  # the TFTP MAC's session exists again
    h = flood('tftp-hold', 'TFTP RRQs never ACKed', 16)
    if h:
        tap.ok(h['drained_before'] is not None, f'transfers left by the malformed flood time out '
               f'(accepted again after {h["drained_before"]} s)')
        tap.ok(1 <= h['started'] <= 32, f'unACKed RRQs: {h["started"]} transfers started (cap 32)')
        # over the cap the daemon stays silent (PXE ROMs abort on a TFTP ERROR but retransmit an
        # unanswered RRQ): no "busy", nothing else either
        tap.ok(h['busy'] == 0 and not h['other'] and h['unanswered'] == h['rrqs'] - h['started'],
               f'unACKed RRQs: the other {h["unanswered"]} got no answer ({h["started"]} started, '
               f'{h["busy"]} "busy", other {h["other"]})')
        tap.ok(h['ack_storm'] > 0, f'ACK storm: {h["ack_storm"]} ACKs to transfer ports in {h["ack_storm_seconds"]} s')
        tap.ok(h['spoof_probes'] > 0 and h['spoof_error5'] == h['spoof_probes'],
               f'spoofed TID: ERROR 5 for {h["spoof_error5"]}/{h["spoof_probes"]} probes')
        tap.ok(h['replies_to_spoofed_errors'] == 0, 'ERROR packets from a spoofed TID are not answered')
        tap.ok(h['spoofed_still_alive'] == h['spoof_probes'],
               f'transfers survive spoofed ACK/ERROR ({h["spoofed_still_alive"]}/{h["spoof_probes"]} still sending)')
        tap.ok(h['freed_after'] is not None and h['freed_after'] < 15,
               f'stale transfers time out: a new RRQ is accepted {h["since_rrqs"]} s after the unACKed RRQs')
        tap.ok(h['fresh_accepted'] == 32, f'after the timeouts a fresh batch of 32 RRQs is accepted in full '
               f'({h["fresh_accepted"]} accepted, {h["fresh_refused"]} refused)')

    # 3. traversal
    tr = lab.worker('traversal', seed=17)
    tap.ok(tr is not None, 'TFTP traversal probes ran')
    if tr:
        # A NUL ends the file name: what follows becomes the mode ("only octet mode supported",
        # ERROR 0) or an odd option list. Over-long (> 255) or non-printable names are malformed
        # requests, which the daemon drops without an answer. Neither reveals anything.
        def acceptable(x):
            name = bytes.fromhex(x['name'])
            codes = (0, 1, 2, 4) if b'\0' in name else (1, 2, 4)
            return not x['leak'] and all(k == 'error' and c in codes for k, c in x['replies'])
        bad = [x for x in tr['results'] if not acceptable(x)]
        plain = [x for x in tr['results'] if b'\0' not in bytes.fromhex(x['name']) and len(bytes.fromhex(x['name'])) <= 255
                 and bytes.fromhex(x['name']).isascii()]
        tap.ok(not bad, f'TFTP traversal: no DATA/OACK for any of {len(tr["results"])} RRQs, every reply ERROR 1/2/4 '
               '(0 for names with an embedded NUL)', json.dumps(bad))
        tap.ok(plain and all(x['replies'] for x in plain),
               f'TFTP traversal: all {len(plain)} well-formed traversal RRQs got an ERROR (none silently dropped)')
        silent = [bytes.fromhex(x['name'])[:24] for x in tr['results'] if not x['replies']]
        tap.diag(f'TFTP traversal: dropped without a reply (malformed): {len(silent)} {silent[:6]}')
        tap.diag('TFTP traversal replies: ' + ', '.join(
            f'{bytes.fromhex(x["name"])[:40]!r}{"+opts" if x["opts"] else ""}={x["replies"]}' for x in tr['results'][:8]))

    # 4. HTTP
    hr = lab.worker('http', seed=18)
    tap.ok(hr is not None, 'HTTP probes ran')
    if hr:
        tap.diag('HTTP: ' + json.dumps(hr))
        for key, what in (('big_headers', '100 KiB of headers'), ('long_line', '64 KiB request line')):
            st = hr[key]['status']
            tap.ok(st is None or 400 <= st < 500, f'HTTP {what}: 4xx or closed (got {st}, {hr[key]["note"] or "no error"})')
        tap.ok(not hr['cl_te']['leak'] and all(s < 500 for s in hr['cl_te']['statuses']),
               f'HTTP CL+TE GET with a smuggled request: no leak, statuses {hr["cl_te"]["statuses"]}')
        tap.ok(not hr['two_cl']['leak'] and all(s < 500 for s in hr['two_cl']['statuses']),
               f'HTTP two Content-Length headers: no leak, statuses {hr["two_cl"]["statuses"]}')
        af = hr['absolute_form']
        tap.ok(af['status'] is None or (af['status'] < 500 and not af['evil_in_body']),
               f'HTTP absolute-form request line for another host: status {af["status"]}, no foreign host in the body')
        for p in hr['paths']:
            tap.ok(not p['leak'] and p['status'] in (400, 404), f'HTTP {p["path"]}: {p["status"]} (400 or 404), no file contents')
    tap.ok(lab.alive(), 'HTTP probes: daemon still alive')

    # slowloris while a normal GET must complete
    r, _ = lab.curl(f'http://{lab.server_ip}/_/ipxe?mac={MAC}&arch=0')
    script = r.stdout.decode(errors='replace') if r else ''
    kurl = next((ln.split()[3] for ln in script.splitlines() if ln.startswith('kernel --name kernel ')), None)
    tap.ok(kurl is not None, f'iPXE script names the kernel URL ({kurl})', script[:500])
    kurl = kurl or f'http://{lab.server_ip}/_/file/{DMAC}/kernel'
    with open(lab.kernel, 'rb') as f:
        kernel_bytes = f.read()
    slow = lab.worker('slowloris', seed=19, background=True)
    time.sleep(2.0)
    r, took = lab.curl(kurl)
    tap.ok(r is not None and r.returncode == 0 and r.stdout == kernel_bytes and took < 2.0,
           f'kernel GET during 50 slowloris connections: complete and identical in {took:.2f} s (< 2 s)',
           f'rc {r.returncode if r else None}, {len(r.stdout) if r else 0} bytes')
    try:
        so, se = slow.communicate(timeout=30)
        tap.diag(f'slowloris: {so.strip()} {se.strip()[-500:]}')
    except subprocess.TimeoutExpired:
        slow.kill()
        slow.communicate(timeout=5)
        tap.diag('slowloris worker hung (killed)')

    # 5. afterwards
    lab.stop_sampler()
    tap.ok(lab.alive() and lab.daemon.pid == pid, f'daemon pid {pid} unchanged and alive')
    try:
        with open(f'/proc/{pid}/comm') as f:
            comm = f.read().strip()
    except OSError:
        comm = None
    tap.ok(comm == 'pixiecore', f'/proc/{pid}/comm is pixiecore ({comm})')
    discover_offer('final')
    with open(lab.undionly, 'rb') as f:
        undi = f.read()
    r, took = lab.curl(f'tftp://{lab.server_ip}/{DMAC}/undionly.kpxe')
    tap.ok(r is not None and r.returncode == 0 and r.stdout == undi,
           f'final TFTP fetch of {DMAC}/undionly.kpxe with curl: identical ({took:.2f} s)',
           f'rc {r.returncode if r else None}, {len(r.stdout) if r else 0}/{len(undi)} bytes')
    r, took = lab.curl(kurl)
    tap.ok(r is not None and r.returncode == 0 and r.stdout == kernel_bytes,
           f'final HTTP GET of the kernel: identical ({took:.2f} s)')
    final = lab.rss_kib()
    peak = max(lab.rss_peak, final or 0)
    tap.diag(f'VmRSS baseline {base} KiB, peak sampled {peak} KiB ({lab.rss_samples} samples), final {final} KiB')
    if base and final:
        tap.ok(final - base < RSS_LIMIT_KIB, f'VmRSS grew by {final - base} KiB (< 32 MiB)')
        tap.ok(peak - base < RSS_LIMIT_KIB, f'VmRSS peak {peak - base} KiB over baseline (< 32 MiB)')
    log = lab.log_text()
    badlines = [ln for ln in log.splitlines()
                if 'critical' in ln.lower() or 'ERROR:' in ln or 'Sanitizer' in ln or 'runtime error' in ln]
    tap.ok(not badlines, 'daemon log has no critical/ERROR:/sanitizer lines', '\n'.join(badlines[:20]))
    tap.diag(f'daemon log: {len(log.splitlines())} lines, {len(log)} bytes')


def main():
    if len(sys.argv) > 1 and sys.argv[1] == '--worker':
        a = dict(zip(sys.argv[1::2], sys.argv[2::2]))
        return worker_main(a['--worker'], a['--server'], int(a.get('--seed', '1')))
    skip = pxtest.cannot_run(tools=('ip', 'curl'), tools_note='no ip(8) or curl')
    if skip is not None:
        return skip

    def body():
        lab.up()
        if tap.ok(lab.start_daemon(), 'daemon starts (-max-sessions 256 -max-tftp-transfers 32)'):
            main_tests()
            rc = lab.stop_daemon()
            tap.ok(rc == 0, f'daemon exits 0 on SIGTERM (rc {rc})')
            san = [ln for ln in lab.log_text().splitlines() if 'Sanitizer' in ln or 'runtime error' in ln]
            tap.ok(not san, 'no sanitizer report at exit (leaks)', '\n'.join(san[:20]))

    return pxtest.run(body, lab)


if __name__ == '__main__':
    sys.exit(main())
