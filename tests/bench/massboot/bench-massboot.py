#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""bench-massboot: N simulated PXE machines boot from one pixiecore at once (issue 6).

    bench-massboot.py [--quick] [--counts 50,200,500] [--kernel-mib 8] [--initrd-mib 12,4]
                      [--deadline 120] [--spread 1] [--debug] [--keep-logs DIR] [--pcap PREFIX]

pixiecore runs in static mode (iPXE bootloader, Debian's undionly.kpxe) in a server network
namespace (10.77.0.1); the clients run in a client namespace (10.77.0.2), joined by a veth pair
(benchlib.NetnsPair). This file with --client (asyncio, pinned to the CPU the daemon is not on)
plays all N machines. Each one does what BIOS firmware and then iPXE do:

 1. firmware DHCP: a DISCOVER broadcast to port 67 with the PXE options (60
    "PXEClient:Arch:00000:UNDI:002001", 93 arch 0, 94, 97 GUID), its own MAC and xid,
    retransmitted after 4, 8, 16, 32 s like a PXE ROM; the ProxyDHCP OFFER must name
    <mac>/undionly.kpxe and a next-server, with discovery control 8 (boot the file, so no port
    4011 step, which is what real BIOS ROMs do with such an offer);
 2. TFTP from next-server:69 the way PXE ROMs do: an RRQ with tsize (and blksize) to learn the
    size, abort after the OACK, then the real RRQ (blksize 1468, tsize), lock-step ACKs, ACK/RRQ
    retransmission on timeout (1, 2, 4, 4, 4 s), and a retry after a random 0.5-1.5 s pause
    when the server answers "busy" (over -max-tftp-transfers); bytes compared with the file;
 3. iPXE's DHCP: a DISCOVER with user class "iPXE" and option 175 (HTTP, bzImage, ...),
    retransmitted after 1, 2, 4, 8, 10 ... s like iPXE; the OFFER's boot file must be
    http://10.77.0.1/_/ipxe?mac=...;
 4. HTTP: the script, then every kernel/initrd URL in it, then the imgfetch "booting" URL, one
    connection each (the daemon answers Connection: close). Status 200, Content-Length equal
    to the payload file, the body's length, bytes compared with the file at the start of every
    received chunk, and a SHA-256 of the whole body for the first download of each file. A
    failed fetch makes the machine do what pixiecore's script does: wait 5 s, fetch the script
    again, start over.

All N start within --spread seconds. A machine that has not finished --deadline seconds after
the start counts as a failure (the phase it was stuck in is reported). Every machine has its
own address (10.77.1.1 ... in the client namespace, as the network's DHCP server would have
given it), because the daemon limits HTTP connections per client address.

The client is two processes on the CPU the daemon is not pinned to: DHCP+TFTP (at SCHED_FIFO
priority 1 unless --no-rt: lock-step TFTP turns every client delay into measured time, and the
machine may be busy with other work) and HTTP (CPU-bound bulk reads). Their event-loop lag and
CPU time are printed, so that a client-bound run can be told from a daemon-bound one.

Daemon figures: CPU (benchlib.Cgroup), and /proc/<pid>/status sampled every 20 ms: VmHWM (peak
resident set), RssAnon, RssFile, and the peak number of file descriptors (by kind), run under
a soft RLIMIT_NOFILE of 1024 like a systemd service (--nofile). The "RSS < 64 MiB" target is
checked against VmHWM, the strictest figure: it is what the kernel reports as the process's peak
resident set, including file-backed pages. Those include whatever part of the kernel/initrd
files the daemon has mapped and touched (it mmaps them; with sendfile() most of the payload is
never faulted in), which are clean, shared page-cache pages and grow with the payload size, not
with N; RssAnon (the daemon's own heap and stacks) is printed next to it for that reason.

Exit status: 0 when every machine booted and VmHWM stayed under 64 MiB at every N, 1 otherwise,
77 when not root or something needed is missing.
"""

import argparse
import asyncio
import collections
import hashlib
import json
import mmap
import os
import random
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import benchlib  # noqa: E402

SERVER_IP = benchlib.NetnsPair.SERVER_IP
CLIENT_IP = benchlib.NetnsPair.CLIENT_IP
RSS_TARGET_KIB = 64 * 1024
MAX_MACHINES = 250 * 40


def machine_ip(i):
    """Machine i's address, as the network's real DHCP server would have handed it out: every
    machine has its own (the daemon limits HTTP connections per client address)."""
    return f'10.77.{1 + i // 250}.{1 + i % 250}'
CMDLINE = 'console=ttyS0,115200n8 quiet'
HTTP_RCVBUF = 256 * 1024

# ---------------------------------------------------------------------------------------------
# DHCP packets

MAGIC = bytes.fromhex('63825363')
# Parameter request list of an Intel/SeaBIOS-style BIOS PXE ROM, and the one iPXE sends.
FIRMWARE_PRL = bytes([1, 2, 3, 4, 5, 6, 11, 12, 13, 15, 16, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50,
                      51, 54, 58, 59, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135])
IPXE_PRL = bytes([1, 3, 6, 7, 12, 15, 17, 26, 43, 60, 66, 67, 119, 128, 129, 130, 131, 132, 133,
                  134, 135, 175, 203])
# iPXE's option 175 as undionly.kpxe sends it (from the stand-in capture): bus id, and the
# feature flags PXE_EXT, iSCSI, AoE, HTTP, HTTPS, TFTP, DNS, bzImage, Multiboot, ELF, COMBOOT...
IPXE_175 = bytes.fromhex('b105018086100eeb03010000170101220101130101110101270101190101290101'
                         '100102210101150101180101120101')
VENDOR_CLASS = b'PXEClient:Arch:00000:UNDI:002001'


def dhcp_option(code, payload):
    return bytes([code, len(payload)]) + bytes(payload)


def dhcp_discover(mac, xid, secs, ipxe):
    head = struct.pack('!BBBBIHH', 1, 1, 6, 0, xid, secs, 0 if ipxe else 0x8000)
    head += bytes(16) + mac.ljust(16, b'\0') + bytes(64) + bytes(128)
    guid = bytes([0]) + hashlib.md5(mac).digest()
    opts = dhcp_option(53, [1]) + dhcp_option(57, struct.pack('!H', 1472 if ipxe else 1260))
    opts += dhcp_option(93, struct.pack('!H', 0)) + dhcp_option(94, [1, 2, 1])
    opts += dhcp_option(60, VENDOR_CLASS)
    if ipxe:
        opts += dhcp_option(77, b'iPXE') + dhcp_option(55, IPXE_PRL) + dhcp_option(175, IPXE_175)
        opts += dhcp_option(61, b'\x01' + mac)
    else:
        opts += dhcp_option(55, FIRMWARE_PRL)
    opts += dhcp_option(97, guid)
    return head + MAGIC + opts + b'\xff'


def dhcp_parse(data):
    """(xid, chaddr, siaddr, file, {code: payload}) of a BOOTREPLY, or None."""
    if len(data) < 240 or data[0] != 2 or data[236:240] != MAGIC:
        return None
    xid = struct.unpack('!I', data[4:8])[0]
    opts = {}
    pos = 240
    while pos < len(data):
        code = data[pos]
        if code == 0:
            pos += 1
            continue
        if code == 255 or pos + 1 >= len(data):
            break
        n = data[pos + 1]
        opts[code] = opts.get(code, b'') + data[pos + 2:pos + 2 + n]
        pos += 2 + n
    boot_file = data[108:236].split(b'\0', 1)[0].decode('latin-1')
    if 67 in opts:
        boot_file = opts[67].split(b'\0', 1)[0].decode('latin-1')
    return xid, data[28:34], socket.inet_ntoa(data[20:24]), boot_file, opts


class DhcpMux:
    """One socket on port 68 for every simulated machine; replies go to their xid's queue.
    Not an asyncio datagram transport: that reads one datagram per loop iteration, which with
    hundreds of busy TFTP sockets delays the 500th OFFER by seconds. This drains the socket."""

    def __init__(self, sock):
        self.sock = sock
        self.waiters = {}
        self.stray = 0
        self.send_retries = 0
        asyncio.get_running_loop().add_reader(sock.fileno(), self.readable)

    def readable(self):
        for _ in range(1024):
            try:
                data = self.sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            now = time.monotonic()
            r = dhcp_parse(data)
            q = self.waiters.get(r[0]) if r else None
            if q is None:
                self.stray += 1
                continue
            q.put_nowait((now, r))

    async def send(self, data):
        for _ in range(100):
            try:
                self.sock.sendto(data, ('255.255.255.255', 67))
                return
            except (BlockingIOError, InterruptedError):
                self.send_retries += 1
                await asyncio.sleep(0.001)


async def open_dhcp_mux(iface):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, getattr(socket, 'SO_BINDTODEVICE', 25), iface.encode())
    # One NIC per machine in real life; here one socket takes N broadcasts at once.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(('0.0.0.0', 68))
    s.setblocking(False)
    return DhcpMux(s)


# ---------------------------------------------------------------------------------------------
# TFTP

TFTP_RRQ, TFTP_DATA, TFTP_ACK, TFTP_ERROR, TFTP_OACK = 1, 3, 4, 5, 6


class Busy(Exception):
    pass


class BootError(Exception):
    pass


class UdpRecv(asyncio.DatagramProtocol):
    """A TFTP client TID: datagrams, awaited with a timeout through one plain future (no task
    per packet: this process plays hundreds of machines)."""

    def __init__(self):
        self.pending = collections.deque()
        self.waiter = None
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((data, addr))
        else:
            self.pending.append((data, addr))

    def error_received(self, exc):
        pass

    async def recv(self, timeout):
        if self.pending:
            return self.pending.popleft()
        loop = asyncio.get_running_loop()
        fut = self.waiter = loop.create_future()
        timer = loop.call_later(timeout, lambda: fut.done() or fut.set_result(None))
        try:
            return await fut
        finally:
            timer.cancel()
            self.waiter = None


def tftp_rrq(name, options):
    out = struct.pack('!H', TFTP_RRQ) + name.encode() + b'\0octet\0'
    for k, v in options:
        out += k.encode() + b'\0' + str(v).encode() + b'\0'
    return out


def tftp_oack(data):
    parts = data[2:].split(b'\0')
    return {parts[i].decode().lower(): parts[i + 1].decode() for i in range(0, len(parts) - 1, 2)}


async def udp_wait(q, timeout):
    try:
        return await asyncio.wait_for(q.get(), timeout)
    except asyncio.TimeoutError:
        return None


TFTP_TIMEOUTS = (1, 2, 4, 4, 4)


async def tftp_once(local_ip, server, name, options, stats, probe):
    """One transfer from a fresh port (the client TID). probe: stop after the OACK (tsize)."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(UdpRecv, local_addr=(local_ip, 0))
    try:
        rrq = tftp_rrq(name, options)
        peer = None
        blksize = 512
        tsize = None
        body = bytearray()
        expect = 1
        last_sent = rrq
        dest = (server, 69)
        tries = 0
        transport.sendto(rrq, dest)
        while True:
            got = await proto.recv(TFTP_TIMEOUTS[min(tries, len(TFTP_TIMEOUTS) - 1)])
            if got is None:
                tries += 1
                stats['tftp_timeouts'] += 1
                if tries > len(TFTP_TIMEOUTS):
                    raise BootError('TFTP: no answer after retransmissions')
                transport.sendto(last_sent, peer or dest)
                continue
            data, addr = got
            if peer and addr != peer:
                continue  # not our server TID
            op = struct.unpack('!H', data[:2])[0] if len(data) >= 2 else 0
            if op == TFTP_ERROR:
                code = struct.unpack('!H', data[2:4])[0]
                msg = data[4:].split(b'\0', 1)[0].decode('latin-1')
                if 'busy' in msg.lower():
                    raise Busy()
                raise BootError(f'TFTP error {code}: {msg}')
            if peer is None:
                peer = addr
            if op == TFTP_OACK and expect == 1 and not body:
                o = tftp_oack(data)
                blksize = int(o.get('blksize', 512))
                tsize = int(o['tsize']) if 'tsize' in o else None
                if probe:
                    transport.sendto(struct.pack('!HH', TFTP_ERROR, 0) + b'TFTP Aborted\0', peer)
                    return tsize, None
                last_sent = struct.pack('!HH', TFTP_ACK, 0)
                transport.sendto(last_sent, peer)
                tries = 0
                continue
            if op != TFTP_DATA or len(data) < 4:
                continue
            block = struct.unpack('!H', data[2:4])[0]
            if block != expect & 0xffff:
                continue  # duplicate (our ACK or its DATA crossed a retransmission): no re-ACK
            body += data[4:]
            last_sent = struct.pack('!HH', TFTP_ACK, block)
            transport.sendto(last_sent, peer)
            tries = 0
            expect += 1
            if len(data) - 4 < blksize:
                return tsize, bytes(body)
    finally:
        transport.close()


async def tftp_fetch(local_ip, server, name, blksize, stats, expected):
    """Size probe plus transfer, retried after 'busy' like the brief asks of the clients."""
    options = [('tsize', 0), ('blksize', blksize)]
    step = 'probe'
    while True:
        try:
            if step == 'probe':
                tsize, _ = await tftp_once(local_ip, server, name, options, stats, probe=True)
                if tsize != len(expected):
                    raise BootError(f'TFTP: tsize {tsize}, expected {len(expected)}')
                step = 'read'
            tsize, body = await tftp_once(local_ip, server, name, [('blksize', blksize), ('tsize', 0)], stats,
                                            probe=False)
            if body != expected:
                raise BootError(f'TFTP: {name}: got {len(body)} bytes that differ from the bootloader')
            return
        except Busy:
            stats['tftp_busy'] += 1
            await asyncio.sleep(random.uniform(0.5, 1.5))


# ---------------------------------------------------------------------------------------------
# HTTP

class Payload:
    """An expected file, mmapped: sampled comparisons for every download, SHA-256 once."""

    def __init__(self, path):
        self.path = path
        with open(path, 'rb') as f:
            self.size = os.fstat(f.fileno()).st_size
            self.map = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) if self.size else b''
        self.sha256 = hashlib.sha256(self.map).hexdigest()
        self.hashed = False  # a full SHA-256 of one download was checked


class HttpGet(asyncio.BufferedProtocol):
    BUFSIZE = 128 * 1024

    def __init__(self, payload, want_body):
        self.buf = bytearray(self.BUFSIZE)
        self.view = memoryview(self.buf)
        self.head = bytearray()
        self.headers = None
        self.status = None
        self.length = None
        self.got = 0
        self.body = bytearray() if want_body else None
        self.payload = payload
        self.hasher = None
        if payload is not None and not payload.hashed:
            payload.hashed = True
            self.hasher = hashlib.sha256()
        self.mismatch = None
        self.done = asyncio.get_running_loop().create_future()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def get_buffer(self, sizehint):
        return self.view

    def _finish(self, exc=None):
        if not self.done.done():
            if exc:
                self.done.set_exception(exc)
            else:
                self.done.set_result(None)
        if self.transport:
            self.transport.close()

    def _body(self, chunk):
        if self.payload is not None and self.mismatch is None:
            p = self.payload
            n = min(len(chunk), 64)
            if self.got + len(chunk) > p.size or chunk[:n] != p.map[self.got:self.got + n]:
                self.mismatch = self.got
            if self.hasher:
                self.hasher.update(chunk)
        if self.body is not None:
            self.body += chunk
        self.got += len(chunk)

    def buffer_updated(self, nbytes):
        chunk = self.view[:nbytes]
        if self.headers is None:
            self.head += chunk
            end = self.head.find(b'\r\n\r\n')
            if end < 0:
                if len(self.head) > 16384:
                    self._finish(BootError('HTTP: header too long'))
                return
            lines = bytes(self.head[:end]).decode('latin-1').split('\r\n')
            parts = lines[0].split(' ', 2)
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            self.headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(':')
                self.headers[k.strip().lower()] = v.strip()
            if 'content-length' in self.headers:
                self.length = int(self.headers['content-length'])
            rest = bytes(self.head[end + 4:])
            self.head = None
            if rest:
                self._body(memoryview(rest))
        else:
            self._body(chunk)
        if self.length is not None and self.got >= self.length:
            self._finish()

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        self.transport = None
        if self.done.done():
            return
        if self.length is None and self.headers is not None and self.status == 200:
            self._finish(BootError('HTTP: no Content-Length'))
        else:
            self._finish(BootError(f'HTTP: connection closed after {self.got} body bytes '
                                   f'({exc or "EOF"})'))


async def http_get(local_ip, url, payload, want_body, timeout, stats):
    u = urllib.parse.urlsplit(url)
    if u.scheme != 'http' or u.hostname != SERVER_IP:
        raise BootError(f'HTTP: unexpected URL {url}')
    path = u.path + ('?' + u.query if u.query else '')
    loop = asyncio.get_running_loop()
    proto = HttpGet(payload, want_body)
    t = time.monotonic()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        # A firmware-sized receive window (iPXE's is small too): 500 autotuned multi-MiB windows
        # would put this one host under TCP memory pressure and drop segments (TCPRcvQDrop).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, HTTP_RCVBUF)
        sock.bind((local_ip, 0))
        await asyncio.wait_for(loop.sock_connect(sock, (u.hostname, u.port or 80)), min(timeout, 15))
        transport, _ = await loop.create_connection(lambda: proto, sock=sock)
    except (OSError, asyncio.TimeoutError) as e:
        sock.close()
        raise BootError(f'HTTP: connect: {e!r}')
    connect = time.monotonic() - t
    stats['http_connect_max'] = max(stats['http_connect_max'], connect)
    if connect > 0.9:
        stats['http_slow_connects'] += 1  # a SYN or its answer was lost: TCP waited 1 s or more
    transport.write(f'GET {path} HTTP/1.1\r\nConnection: keep-alive\r\nUser-Agent: iPXE/1.21.1+\r\n'
                    f'Host: {u.netloc}\r\n\r\n'.encode())
    try:
        await asyncio.wait_for(proto.done, timeout)
    except asyncio.TimeoutError:
        transport.close()
        raise BootError(f'HTTP: {path}: timed out after {proto.got} body bytes')
    if proto.status != 200:
        raise BootError(f'HTTP: {path}: status {proto.status}')
    if payload is not None:
        if proto.length != payload.size or proto.got != payload.size:
            raise BootError(f'HTTP: {path}: Content-Length {proto.length}, got {proto.got}, '
                            f'expected {payload.size}')
        if proto.mismatch is not None:
            raise BootError(f'HTTP: {path}: bytes differ from the payload near offset {proto.mismatch}')
        if proto.hasher and proto.hasher.hexdigest() != payload.sha256:
            raise BootError(f'HTTP: {path}: SHA-256 differs from the payload')
    return proto


def parse_script(text):
    """kernel URL, [initrd URLs], imgfetch URL from an iPXE script."""
    kernel, initrds, booting = None, [], None
    for line in text.splitlines():
        words = line.split()
        if not words or words[0] not in ('kernel', 'initrd', 'imgfetch', 'chain'):
            continue
        urls = [w for w in words[1:] if w.startswith('http://')]
        if not urls:
            continue
        if words[0] == 'kernel':
            kernel = urls[0]
        elif words[0] == 'initrd':
            initrds.append(urls[0])
        elif words[0] == 'imgfetch':
            booting = urls[0]
    return kernel, initrds, booting


# ---------------------------------------------------------------------------------------------
# One machine

class Machine:
    def __init__(self, index, mac):
        self.index = index
        self.ip = machine_ip(index)
        self.mac = mac
        self.mac_text = ':'.join(f'{b:02x}' for b in mac)
        self.phase = 'start'
        self.times = {}
        self.error = None
        self.done = False


async def dhcp_exchange(mux, m, ipxe, schedule, stats, deadline):
    """DISCOVER, retransmitted per schedule (seconds), until a matching OFFER; returns it."""
    loop = asyncio.get_running_loop()
    xid = random.getrandbits(32)
    while xid in mux.waiters:
        xid = random.getrandbits(32)
    q = asyncio.Queue()
    mux.waiters[xid] = q
    start = loop.time()
    try:
        i = 0
        while True:
            wait = schedule[min(i, len(schedule) - 1)]
            secs = int(loop.time() - start)
            await mux.send(dhcp_discover(m.mac, xid, secs, ipxe))
            sent = time.monotonic()
            if i:
                stats['dhcp_retransmits'] += 1
            end = loop.time() + wait
            while True:
                left = min(end, deadline) - loop.time()
                if left <= 0:
                    break
                r = await udp_wait(q, left)
                if r is None:
                    break
                stats['dhcp_rtt'].append((r[0] - sent, time.monotonic() - sent))
                r = r[1]
                _, chaddr, siaddr, boot_file, opts = r
                if chaddr != m.mac or opts.get(53) != b'\x02':
                    stats['dhcp_bad_replies'] += 1
                    continue
                if not opts.get(60, b'').startswith(b'PXEClient') or not boot_file:
                    raise BootError(f'DHCP: offer without PXEClient/boot file: {opts!r}')
                return siaddr, boot_file, opts
            if loop.time() >= deadline:
                raise BootError('DHCP: no offer before the deadline')
            i += 1
    finally:
        del mux.waiters[xid]


def new_stats():
    return {'dhcp_rtt': [], 'dhcp_retransmits': 0, 'dhcp_bad_replies': 0, 'tftp_busy': 0, 'tftp_timeouts': 0,
            'http_retries': 0, 'http_slow_connects': 0, 'http_connect_max': 0.0, 'errors': {}}


class Phases:
    """Per-machine phase timer: mark('next') closes the running phase."""

    def __init__(self, m, start):
        self.m = m
        self.last = start

    def mark(self, phase):
        now = time.monotonic()
        self.m.times[self.m.phase] = now - self.last
        self.last = now
        self.m.phase = phase


async def udp_phases(m, mux, ctx, t0, stats):
    """Firmware DHCP, TFTP, iPXE DHCP; returns the script URL."""
    deadline = t0 + ctx['deadline']
    await asyncio.sleep(max(0.0, t0 + m.start_offset - time.monotonic()))
    m.started = time.monotonic()
    ph = Phases(m, m.started)
    m.phase = 'dhcp'
    siaddr, boot_file, opts = await dhcp_exchange(mux, m, False, (4, 8, 16, 32), stats, deadline)
    dashed = m.mac_text.replace(':', '-')
    if boot_file != f'{dashed}/undionly.kpxe' or siaddr != SERVER_IP:
        raise BootError(f'DHCP: firmware offer names {boot_file!r} on {siaddr}')
    if opts.get(43, b'')[:3] != b'\x06\x01\x08':
        # without discovery control 8 a BIOS ROM would go on to the boot server on 4011
        raise BootError(f'DHCP: firmware offer lacks discovery control 8: {opts.get(43)!r}')
    ph.mark('tftp')
    await tftp_fetch(m.ip, siaddr, boot_file, ctx['blksize'], stats, ctx['loader'])
    ph.mark('ipxe-dhcp')
    siaddr, url, opts = await dhcp_exchange(mux, m, True, (1, 2, 4, 8, 10), stats, deadline)
    want = f'http://{SERVER_IP}/_/ipxe?mac={m.mac_text}'
    if not url.startswith(want):
        raise BootError(f'DHCP: iPXE offer names {url!r}, wanted {want}...')
    ph.mark('script')
    return url, ph.last


async def http_phases(m, url, since, ctx, t0, stats):
    deadline = t0 + ctx['deadline']
    ph = Phases(m, since)
    m.phase = 'script'
    while True:
        try:
            p = await http_get(m.ip, url, None, True, deadline - time.monotonic(), stats)
            kernel, initrds, booting = parse_script(p.body.decode('utf-8', 'replace'))
            if not kernel or len(initrds) != len(ctx['initrds']) or not booting:
                raise BootError(f'HTTP: script lacks kernel/initrds/booting URL:\n{p.body.decode()}')
            ph.mark('files')
            await http_get(m.ip, kernel, ctx['kernel'], False, deadline - time.monotonic(), stats)
            for u, payload in zip(initrds, ctx['initrds']):
                await http_get(m.ip, u, payload, False, deadline - time.monotonic(), stats)
            p = await http_get(m.ip, booting, None, True, deadline - time.monotonic(), stats)
            break
        except BootError as e:
            # pixiecore's script: "boot failed, retrying in 5 seconds", chain the script again
            stats['http_retries'] += 1
            key = str(e)[:120]
            stats['errors'][key] = stats['errors'].get(key, 0) + 1
            if time.monotonic() + 5 >= deadline:
                raise
            await asyncio.sleep(5)
            if m.phase == 'files':
                ph.mark('script')
    ph.mark('done')
    m.done = True


async def guarded(m, coro, t0, deadline):
    """Runs one machine's phases until the common deadline; errors end up in m.error."""
    try:
        return await asyncio.wait_for(coro, max(0.1, t0 + deadline - time.monotonic()))
    except asyncio.TimeoutError:
        m.error = f'deadline passed in phase {m.phase}'
    except BootError as e:
        m.error = f'{m.phase}: {e}'
    except Exception as e:  # a bug in this client: report it as such
        m.error = f'{m.phase}: client exception {e!r}'
    return None


class LagWatch:
    """How late a 10 ms timer fires: when this grows, the client (not the daemon) is the bottleneck."""

    def __init__(self):
        self.lags = []
        self.stop = False
        self.task = asyncio.ensure_future(self.run())

    async def run(self):
        while not self.stop:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            self.lags.append(time.monotonic() - t - 0.01)

    async def close(self):
        self.stop = True
        await self.task
        return benchlib.percentile(self.lags, 99), max(self.lags, default=0.0)


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def udp_worker(machines, args, ctx, t0, handoff_fd):
    """DHCP and TFTP for every machine; hands machines that reach HTTP to the HTTP worker."""
    mux = await open_dhcp_mux(args.iface)
    stats = new_stats()
    lag = LagWatch()
    cpu0 = cpu_seconds()

    async def one(m):
        r = await guarded(m, udp_phases(m, mux, ctx, t0, stats), t0, args.deadline)
        if r:
            url, since = r
            line = json.dumps({'i': m.index, 'url': url, 'since': since, 'started': m.started, 'times': m.times})
            os.write(handoff_fd, (line + '\n').encode())
            m.handed_off = True
        else:
            m.finished = time.monotonic()

    await asyncio.gather(*(one(m) for m in machines))
    os.close(handoff_fd)
    lag99, lagmax = await lag.close()
    return stats, mux.stray, cpu_seconds() - cpu0, lag99, lagmax


async def http_worker(machines, args, ctx, t0, handoff_fd):
    """HTTP for machines as the UDP worker hands them over; until its pipe closes."""
    loop = asyncio.get_running_loop()
    stats = new_stats()
    lag = LagWatch()
    cpu0 = cpu_seconds()
    tasks = []
    buf = bytearray()
    eof = loop.create_future()

    async def one(m, url, since):
        await guarded(m, http_phases(m, url, since, ctx, t0, stats), t0, args.deadline)
        m.finished = time.monotonic()

    def readable():
        data = os.read(handoff_fd, 65536)
        if not data:
            loop.remove_reader(handoff_fd)
            eof.set_result(None)
            return
        buf.extend(data)
        while b'\n' in buf:
            line, _, rest = bytes(buf).partition(b'\n')
            buf[:] = rest
            h = json.loads(line)
            m = machines[h['i']]
            m.started, m.times, m.phase = h['started'], h['times'], 'script'
            tasks.append(asyncio.ensure_future(one(m, h['url'], h['since'])))

    loop.add_reader(handoff_fd, readable)
    await eof
    await asyncio.gather(*tasks)
    lag99, lagmax = await lag.close()
    return stats, cpu_seconds() - cpu0, lag99, lagmax


def machine_record(m):
    started, finished = getattr(m, 'started', None), getattr(m, 'finished', None)
    return {'mac': m.mac_text, 'done': m.done, 'error': m.error, 'times': m.times,
            'total': (finished - started) if started and finished else None}


def run_client(args):
    """The client namespace side. Two processes on one CPU: DHCP+TFTP here, HTTP in a child, so
    that the HTTP bulk reads (CPU-bound) do not delay the lock-step TFTP ACKs of other machines:
    this one runs at SCHED_FIFO priority 1 (unless --no-rt), so it runs as soon as a datagram
    wakes it (a real machine has a CPU of its own and answers within microseconds)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    manifest = json.loads(args.manifest)
    # the daemon is up once its HTTP port answers
    for _ in range(200):
        try:
            socket.create_connection((SERVER_IP, 80), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        print(json.dumps({'error': 'pixiecore did not start listening'}), flush=True)
        return 2
    base = random.getrandbits(16)
    machines = []
    for i in range(args.n):
        m = Machine(i, bytes([0x02, 0x4d, (base >> 8) & 0xff, base & 0xff, (i >> 8) & 0xff, i & 0xff]))
        m.start_offset = random.uniform(0, args.spread)
        machines.append(m)
    handoff_r, handoff_w = os.pipe()
    result_r, result_w = os.pipe()
    t0 = time.monotonic() + 0.3
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(handoff_w)
            os.close(result_r)
            ctx = {'deadline': args.deadline, 'kernel': Payload(manifest['kernel']),
                   'initrds': [Payload(p) for p in manifest['initrds']]}
            stats, cpu, lag99, lagmax = asyncio.run(http_worker(machines, args, ctx, t0, handoff_r))
            out = {'stats': stats, 'cpu': cpu, 'lag99': lag99, 'lagmax': lagmax,
                   'machines': {m.index: machine_record(m) for m in machines if getattr(m, 'finished', None)}}
            with os.fdopen(result_w, 'w') as f:
                json.dump(out, f)
        except BaseException as e:
            print(f'bench-massboot: HTTP worker: {e!r}', file=sys.stderr)
            code = 1
        os._exit(code)
    os.close(handoff_r)
    os.close(result_w)
    rt = 'no'
    if args.rt:
        # Lock-step TFTP makes every client delay part of the measured time; this worker needs
        # little CPU (about 1 s for 500 machines) but must run at once, even on a busy machine.
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
            rt = 'SCHED_FIFO'
        except OSError:
            pass
    print('start', flush=True)  # the parent starts sampling the daemon here
    ctx = {'deadline': args.deadline, 'blksize': args.blksize, 'loader': open(manifest['loader'], 'rb').read()}
    stats, stray, cpu, lag99, lagmax = asyncio.run(udp_worker(machines, args, ctx, t0, handoff_w))
    with os.fdopen(result_r) as f:
        text = f.read()
    os.waitpid(pid, 0)
    http = json.loads(text) if text else {'stats': new_stats(), 'cpu': 0, 'lag99': 0, 'lagmax': 0, 'machines': {}}
    records = [http['machines'].get(str(m.index)) or machine_record(m) for m in machines]
    for m, r in zip(machines, records):
        if r is None or (getattr(m, 'handed_off', False) and str(m.index) not in http['machines']):
            records[m.index] = {'mac': m.mac_text, 'done': False, 'error': 'lost by the HTTP worker',
                                'times': m.times, 'total': None}
    for k, v in http['stats'].items():
        if k == 'errors':
            for e, c in v.items():
                stats['errors'][e] = stats['errors'].get(e, 0) + c
        elif k == 'http_connect_max':
            stats[k] = max(stats[k], v)
        else:
            stats[k] += v
    ends = [getattr(m, 'started', t0) + r['total'] for m, r in zip(machines, records) if r['total'] is not None]
    out = {
        'n': args.n,
        'wall': (max(ends) - t0) if ends else float('nan'),
        'client_cpu': cpu + http['cpu'],
        'client_cpu_udp': cpu,
        'client_cpu_http': http['cpu'],
        'stats': stats,
        'stray_dhcp': stray,
        'loop_lag_p99': max(lag99, http['lag99']),
        'loop_lag_max': max(lagmax, http['lagmax']),
        'lag_udp': [lag99, lagmax],
        'rt': rt,
        'lag_http': [http['lag99'], http['lagmax']],
        'machines': records,
    }
    print(json.dumps(out), flush=True)
    return 0


# ---------------------------------------------------------------------------------------------
# Orchestration (root namespace)

def make_payload(tmp, kernel_mib, initrd_mibs):
    def write(name, mib):
        path = os.path.join(tmp, name)
        with open(path, 'wb') as f:
            for _ in range(int(mib * 1024)):
                f.write(os.urandom(1024))
        return path
    kernel = write('vmlinuz', kernel_mib)
    initrds = [write(f'initrd{i}.img', mib) for i, mib in enumerate(initrd_mibs)]
    return kernel, initrds


class StatusSampler(threading.Thread):
    """Peaks of the daemon's /proc/<pid>/status fields, sampled every 20 ms."""

    FIELDS = ('VmHWM', 'VmRSS', 'RssAnon', 'RssFile', 'RssShmem')

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = {k: 0 for k in self.FIELDS}
        self.fds = 0
        self.kinds = {}
        self.kinds_at = 0.0
        self.stop = threading.Event()

    def sample(self):
        try:
            with open(f'/proc/{self.pid}/status') as f:
                for line in f:
                    k, _, v = line.partition(':')
                    if k in self.peak:
                        self.peak[k] = max(self.peak[k], int(v.split()[0]))
            fds = os.listdir(f'/proc/{self.pid}/fd')
            now = time.monotonic()
            if len(fds) > self.fds and now >= self.kinds_at + 0.5:
                # what the descriptors are, at (about) the peak
                self.kinds_at = now
                kinds = collections.Counter()
                for fd in fds:
                    try:
                        target = os.readlink(f'/proc/{self.pid}/fd/{fd}')
                    except OSError:
                        continue
                    kinds[target.split(':', 1)[0] if ':' in target else 'file'] += 1
                self.kinds = dict(kinds)
            self.fds = max(self.fds, len(fds))
        except (OSError, ValueError):
            pass

    def run(self):
        while not self.stop.wait(0.02):
            self.sample()


def udp_counters(netns):
    """The namespace's Udp: line of /proc/net/snmp as a dict (InErrors, RcvbufErrors, ...)."""
    out = subprocess.run(['ip', 'netns', 'exec', netns, 'cat', '/proc/net/snmp'], capture_output=True,
                         text=True).stdout
    lines = [line.split() for line in out.splitlines() if line.startswith('Udp:')]
    if len(lines) < 2:
        return {}
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:])}


TCP_COUNTERS = ('ListenOverflows', 'ListenDrops', 'TCPSynRetrans', 'TCPTimeouts', 'TCPLostRetransmit',
                'TCPAbortOnData', 'TCPAbortOnClose', 'TCPBacklogDrop', 'TCPRcvQDrop', 'TCPZeroWindowDrop')


def tcp_counters(netns):
    """A few TcpExt counters of the namespace (/proc/net/netstat): drops and retransmissions."""
    out = subprocess.run(['ip', 'netns', 'exec', netns, 'cat', '/proc/net/netstat'], capture_output=True,
                         text=True).stdout
    lines = [line.split() for line in out.splitlines() if line.startswith('TcpExt:')]
    if len(lines) < 2:
        return {}
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:]) if k in TCP_COUNTERS}


def udp_socket_drops(netns):
    """{local address:port: drops} of the namespace's UDP sockets that dropped datagrams (ss skmem d)."""
    out = subprocess.run(['ip', 'netns', 'exec', netns, 'ss', '-uanm'], capture_output=True, text=True).stdout
    drops, local = {}, None
    for line in out.splitlines():
        words = line.split()
        if words and words[0] in ('UNCONN', 'ESTAB'):
            local = words[3]
        elif 'skmem:(' in line and local:
            for item in line.split('(', 1)[1].rstrip(')').split(','):
                if item.startswith('d') and item[1:].isdigit() and int(item[1:]):
                    drops[local] = drops.get(local, 0) + int(item[1:])
    return drops


def counter_delta(before, after):
    return {k: after[k] - before.get(k, 0) for k in after}


def add_machine_addresses(pair, n, tmp):
    """Gives the client namespace one address per machine (10.77.1.1 ...), reachable from the
    server through 10.77.0.2 as a gateway: one neighbour entry instead of N (the ARP table is
    shared by all namespaces, and N entries above gc_thresh2 get collected mid-transfer)."""
    batch = os.path.join(tmp, 'addrs.batch')
    with open(batch, 'w') as f:
        for i in range(n):
            f.write(f'address add {machine_ip(i)}/32 dev {pair.client_if}\n')
    subprocess.run(['ip', '-n', pair.client, '-batch', batch], check=True)
    subprocess.run(['ip', '-n', pair.server, 'route', 'add', '10.77.0.0/16', 'via', CLIENT_IP,
                    'dev', pair.server_if], check=True)


def pct(values, p):
    return benchlib.percentile(values, p) if values else float('nan')


def run_one(pair, args, n, manifest, tmp, pixiecore, loader):
    log_path = os.path.join(args.keep_logs or tmp, f'pixiecore-{n}.log')
    argv = [pixiecore, '-kernel', manifest['kernel'], '-initrd', ','.join(manifest['initrds']),
            '-cmdline', CMDLINE, '-listen-addr', SERVER_IP, '-interface', pair.server_if,
            '-ipxe-bios', loader, '-port', '80']
    if args.debug:
        argv.append('-debug')
    if args.nofile:
        # what a systemd service gets unless its unit says otherwise (DefaultLimitNOFILE=1024:524288)
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        argv = ['prlimit', f'--nofile={min(args.nofile, hard)}:{hard}', '--'] + argv
    client_cpu = 0 if benchlib.BENCH_CPU != 0 else 1
    with benchlib.Cgroup(f'massboot{n}') as cg, open(log_path, 'w') as log:
        udp0 = {ns: udp_counters(ns) for ns in (pair.server, pair.client)}
        tcp0 = {ns: tcp_counters(ns) for ns in (pair.server, pair.client)}
        load0 = os.getloadavg()[0]
        daemon = benchlib.spawn(argv, cgroup=cg, netns=pair.server, stdout=log, stderr=log)
        dump = None
        if args.pcap:
            # DHCP and TFTP (not HTTP): latencies as each side sees them
            dump = [subprocess.Popen(['ip', 'netns', 'exec', ns, 'tcpdump', '-q', '-n', '-i', ifname, '-s', '300',
                                      '-w', f'{args.pcap}-{n}-{side}.pcap', 'udp'],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    for side, ns, ifname in (('server', pair.server, pair.server_if),
                                             ('client', pair.client, pair.client_if))]
            time.sleep(1)
        sampler = StatusSampler(daemon.pid)
        try:
            client_argv = ['ip', 'netns', 'exec', pair.client, sys.executable, os.path.abspath(__file__),
                           '--client', '--n', str(n), '--iface', pair.client_if, '--deadline', str(args.deadline),
                           '--spread', str(args.spread), '--blksize', str(args.blksize)]
            client_argv += ['--manifest', json.dumps(manifest)] + ([] if args.rt else ['--no-rt'])
            client = subprocess.Popen(client_argv, stdout=subprocess.PIPE, text=True,
                                      preexec_fn=lambda: os.sched_setaffinity(0, {client_cpu}))
            first = client.stdout.readline()
            cpu0 = cg.cpu_seconds()
            sampler.start()
            try:
                out, _ = client.communicate(timeout=args.deadline + 120)
            except subprocess.TimeoutExpired:
                client.kill()
                out, _ = client.communicate()
            sampler.stop.set()
            sampler.join()
            sampler.sample()
            cpu = cg.cpu_seconds() - cpu0
            alive = daemon.poll() is None
            sock_drops = udp_socket_drops(pair.server)
            udp = {side: counter_delta(udp0[ns], udp_counters(ns))
                   for side, ns in (('server', pair.server), ('client', pair.client))}
            tcp = {side: counter_delta(tcp0[ns], tcp_counters(ns))
                   for side, ns in (('server', pair.server), ('client', pair.client))}
        finally:
            benchlib.stop(daemon)
            if dump:
                time.sleep(0.5)
                for d in dump:
                    d.terminate()
                    d.wait()
    if first.strip() != 'start':
        try:
            msg = json.loads(first).get('error')
        except ValueError:
            msg = first.strip()
        raise RuntimeError(f'client did not start: {msg} (daemon log: {log_path})')
    res = json.loads(out.strip().splitlines()[-1])
    res['daemon_cpu'] = cpu
    res['peak'] = sampler.peak
    res['fds'] = sampler.fds
    res['fd_kinds'] = sampler.kinds
    res['daemon_alive'] = alive
    res['udp'] = udp
    res['tcp'] = tcp
    res['udp_socket_drops'] = sock_drops
    res['load'] = [load0, os.getloadavg()[0]]
    res['log'] = log_path
    with open(log_path, errors='replace') as f:
        text = f.read()
    res['log_warnings'] = sum(1 for line in text.splitlines() if 'warn' in line.lower() or 'error' in line.lower())
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='N=50 only')
    ap.add_argument('--counts', default='50,200,500')
    ap.add_argument('--kernel-mib', type=float, default=8)
    ap.add_argument('--initrd-mib', default='12,4', help='comma-separated sizes, one initrd each')
    ap.add_argument('--deadline', type=float, default=120)
    ap.add_argument('--spread', type=float, default=1.0)
    ap.add_argument('--blksize', type=int, default=1468)
    ap.add_argument('--debug', action='store_true', help='run pixiecore with -debug')
    ap.add_argument('--nofile', type=int, default=1024,
                    help="the daemon's soft RLIMIT_NOFILE (default 1024, systemd's default for services; 0: inherit)")
    ap.add_argument('--no-rt', dest='rt', action='store_false',
                    help='do not run the DHCP/TFTP side of the client at SCHED_FIFO priority 1')
    ap.add_argument('--keep-logs', metavar='DIR', help='write the daemon logs here')
    ap.add_argument('--pcap', metavar='PREFIX', help='capture UDP on both veths to PREFIX-<N>-{server,client}.pcap')
    ap.add_argument('--json', metavar='FILE', help='also write all results here')
    # internal: the client side, run in the client namespace
    ap.add_argument('--client', action='store_true', help=argparse.SUPPRESS)
    ap.add_argument('--n', type=int, help=argparse.SUPPRESS)
    ap.add_argument('--iface', help=argparse.SUPPRESS)
    ap.add_argument('--manifest', help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.client:
        return run_client(args)

    benchlib.require_root()
    pixiecore = os.environ.get('PIXIECORE') or os.path.join(
        os.environ.get('PX_BUILD_ROOT', os.path.join(os.path.dirname(__file__), '../../../build')), 'src/pixiecore')
    loader = '/usr/lib/ipxe/undionly.kpxe'
    for need in (pixiecore, loader):
        if not os.path.exists(need):
            print(f'bench-massboot: {need} is missing', file=sys.stderr)
            return 77
    if not benchlib.which('ip'):
        print('bench-massboot: iproute2 (ip) is missing', file=sys.stderr)
        return 77
    counts = [50] if args.quick else [int(x) for x in args.counts.split(',')]
    if max(counts) > MAX_MACHINES:
        print(f'bench-massboot: at most {MAX_MACHINES} machines', file=sys.stderr)
        return 2
    initrd_mibs = [float(x) for x in args.initrd_mib.split(',') if x]
    if args.keep_logs:
        os.makedirs(args.keep_logs, exist_ok=True)

    results = []
    with tempfile.TemporaryDirectory(prefix='pxbench-massboot.') as tmp:
        os.chmod(tmp, 0o755)
        kernel, initrds = make_payload(tmp, args.kernel_mib, initrd_mibs)
        manifest = {'kernel': kernel, 'initrds': initrds, 'loader': loader}
        payload_mib = (os.path.getsize(kernel) + sum(os.path.getsize(p) for p in initrds)) / 2**20
        print(f'# bench-massboot: payload kernel {args.kernel_mib:g} MiB + initrds '
              f'{"+".join(f"{x:g}" for x in initrd_mibs)} MiB, bootloader {loader} '
              f'({os.path.getsize(loader)} bytes), deadline {args.deadline:g} s, start spread {args.spread:g} s',
              flush=True)
        built = time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(os.path.getmtime(pixiecore)))
        print(f'# pixiecore: {pixiecore} (built {built}); daemon on CPU {benchlib.BENCH_CPU}, clients on CPU '
              f'{0 if benchlib.BENCH_CPU != 0 else 1}; load average at start {os.getloadavg()[0]:.1f}', flush=True)
        with benchlib.NetnsPair('mb') as pair:
            add_machine_addresses(pair, max(counts), tmp)
            for n in counts:
                t = time.monotonic()
                r = run_one(pair, args, n, manifest, tmp, pixiecore, loader)
                r['payload_mib'] = payload_mib
                results.append(r)
                fails = [m for m in r['machines'] if not m['done']]
                print(f'# N={n}: {len(fails)} failed, all done in {r["wall"]:.1f} s '
                      f'(run {time.monotonic() - t:.0f} s)', flush=True)
                kinds = ', '.join(f'{k} {v}' for k, v in sorted(r['fd_kinds'].items()))
                print(f'#   daemon: peak {r["fds"]} file descriptors ({kinds}), '
                      f'soft limit {args.nofile or "inherited"}')
                print(f'#   client event loop lag (p99/max): DHCP+TFTP worker {r["lag_udp"][0] * 1000:.0f}/'
                      f'{r["lag_udp"][1] * 1000:.0f} ms, HTTP worker {r["lag_http"][0] * 1000:.0f}/'
                      f'{r["lag_http"][1] * 1000:.0f} ms; client CPU {r["client_cpu_udp"]:.1f} + '
                      f'{r["client_cpu_http"]:.1f} s; DHCP+TFTP worker scheduling: {r["rt"]}; '
                      f'load average {r["load"][0]:.1f} -> {r["load"][1]:.1f}')
                if r['udp_socket_drops']:
                    print(f'#   daemon UDP sockets that dropped datagrams (full receive buffer): '
                          f'{", ".join(f"{k} {v}" for k, v in r["udp_socket_drops"].items())}')
                print(f'#   HTTP connects: slowest {r["stats"]["http_connect_max"] * 1000:.0f} ms, '
                      f'{r["stats"]["http_slow_connects"]} took over 0.9 s')
                for side in ('server', 'client'):
                    u = r['udp'].get(side, {})
                    print(f'#   UDP {side} namespace: {u.get("InDatagrams", 0)} in, {u.get("RcvbufErrors", 0)} '
                          f'receive-buffer drops, {u.get("InErrors", 0)} in-errors, {u.get("NoPorts", 0)} no-port; '
                          f'TCP: {", ".join(f"{k} {v}" for k, v in r["tcp"].get(side, {}).items() if v) or "no drops"}')
                for m in fails[:10]:
                    print(f'#   {m["mac"]}: {m["error"]}')
                if r['stats']['errors']:
                    for e, c in sorted(r['stats']['errors'].items(), key=lambda x: -x[1])[:5]:
                        print(f'#   retried {c}x: {e}')
                if args.keep_logs is None and fails:
                    with open(r['log'], errors='replace') as f:
                        tail = f.read().splitlines()[-15:]
                    print('#   daemon log tail:\n' + '\n'.join('#     ' + line for line in tail))

    rows = []
    for r in results:
        ok = [m for m in r['machines'] if m['done']]
        ph = lambda k: [m['times'].get(k, 0) for m in ok]
        tot = [m['total'] for m in ok]
        gbit = r['n'] * r['payload_mib'] * 8 * 2**20 / 1e9 / r['wall'] if r['wall'] > 0 else 0
        rows.append([
            r['n'], f'{r["wall"]:.1f}', r['n'] - len(ok),
            f'{pct(tot, 50):.1f} / {pct(tot, 95):.1f} / {max(tot) if tot else float("nan"):.1f}',
            f'{pct(ph("dhcp"), 50) * 1000:.0f} / {pct(ph("dhcp"), 95) * 1000:.0f}',
            f'{pct(ph("tftp"), 50):.2f} / {pct(ph("tftp"), 95):.2f}',
            f'{pct(ph("ipxe-dhcp"), 50) * 1000:.0f} / {pct(ph("ipxe-dhcp"), 95) * 1000:.0f}',
            f'{pct(ph("script"), 50) * 1000:.0f} / {pct(ph("script"), 95) * 1000:.0f}',
            f'{pct(ph("files"), 50):.1f} / {pct(ph("files"), 95):.1f}',
            f'{gbit:.2f}',
            f'{r["stats"]["tftp_busy"]} / {r["stats"]["tftp_timeouts"]}',
            f'{r["stats"]["dhcp_retransmits"]} / {r["stats"]["http_retries"]}',
            f'{r["peak"]["VmHWM"] / 1024:.1f}',
            f'{r["peak"]["RssAnon"] / 1024:.1f}',
            f'{r["peak"]["RssFile"] / 1024:.1f}',
            r['fds'],
            f'{r["daemon_cpu"]:.1f}', f'{r["client_cpu"]:.1f}',
        ])
    benchlib.table(
        ['N', 'all done s', 'failed', 'boot p50/p95/max s', 'DHCP p50/p95 ms', 'TFTP p50/p95 s',
         'iPXE DHCP p50/p95 ms', 'script p50/p95 ms', 'files p50/p95 s', 'payload Gbit/s', 'TFTP busy/timeouts',
         'DHCP retx / HTTP retries', 'VmHWM MiB', 'RssAnon MiB', 'RssFile MiB', 'fds', 'daemon CPU s',
         'client CPU s'],
        rows, title='pixiecore mass boot (static mode, iPXE, BIOS firmware simulated)')

    failures = sum(1 for r in results for m in r['machines'] if not m['done'])
    worst = max(results, key=lambda r: r['n'])
    anon = max(r['peak']['RssAnon'] for r in results)
    hwm = max(r['peak']['VmHWM'] for r in results)
    rss_file = max(r['peak']['RssFile'] for r in results)
    dead = [r['n'] for r in results if not r['daemon_alive']]
    fail_ok = failures == 0 and not dead
    rss_ok = 0 < hwm < RSS_TARGET_KIB
    print(f'\ntargets: mass boot of {worst["n"]}: {failures} failures in all runs '
          f'({"met" if fail_ok else "MISSED"}{", daemon died at N=" + ",".join(map(str, dead)) if dead else ""}); '
          f'daemon peak RSS (VmHWM) {hwm / 1024:.1f} MiB < 64 MiB ({"met" if rss_ok else "MISSED"}), '
          f'of which RssAnon {anon / 1024:.1f} MiB and file-backed (binary, libraries, mapped payload) '
          f'up to {rss_file / 1024:.1f} MiB')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    return 0 if fail_ok and rss_ok else 1


if __name__ == '__main__':
    sys.exit(main())
