#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""ProxyDHCP (UDP 67) and PXE boot server (UDP 4011) behaviour, checked on the wire.

Creates two network namespaces of its own, "server" and "client", joined by a veth pair
(10.78.X.1/24 server side, 10.78.X.2/24 client side; X derived from the pid). Runs the real
pixiecore in the server namespace (it binds 0.0.0.0:67, :4011, :69 and :80 there) and
tests/integration/pxe-client.py in the client namespace, which sends built or replayed
(tests/data/captures/*.pcap) packets and reports what came back.

Needs root (namespaces). Prints TAP; exits 0 when every test passed, 1 otherwise, 77 (skip)
without root or `ip`. All traffic stays inside the two namespaces, which are deleted at exit
(also on failure or SIGTERM). Every wait is bounded.

Environment: PIXIECORE (the binary; default <source>/build/src/pixiecore), PX_SOURCE_ROOT,
PXT_SUBNET_X (third octet override), PXT_KEEP=1 (keep the temp dir with the daemon logs).
"""

import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pxtest  # noqa: E402
from pxtest import CLIENT, PYTHON, SOURCE_ROOT, dashed, opt, tap  # noqa: E402

CAPTURES = os.path.join(SOURCE_ROOT, 'tests', 'data', 'captures')

MAC = '52:54:00:12:34:56'
GUID = '00' + ''.join(f'{b:02x}' for b in range(0x11, 0x21))  # 17 bytes, first 0


# ---------------------------------------------------------------------------
# The two namespaces (10.78.X.0/24) and the daemon
# ---------------------------------------------------------------------------

class Lab(pxtest.Lab):
    def __init__(self):
        super().__init__('pxt', '10.78', 'pxt-proxydhcp-', log_name='pixiecore-{n}.log')

    def make_payload(self):
        self.kernel = self.file('vmlinuz', b'KERNEL' + os.urandom(4090))
        self.initrd_a = self.file('initrd-a.img', b'INITRDA' + os.urandom(1000))
        self.initrd_b = self.file('initrd-b.img', b'INITRDB' + os.urandom(1000))
        self.loaders = {name: self.file(name, f'fake {name}\n'.encode())
                        for name in ('undionly.kpxe', 'ipxe.efi', 'ipxe.pxe', 'lpxelinux.0', 'ldlinux.c32',
                                     'syslinux.efi', 'ldlinux.e64')}
        # an explicit (empty) config file: a real /etc/pixiecore/pixiecore.conf must not leak in
        self.config = self.file('pixiecore.conf', b'[pixiecore]\n')

    def start_daemon(self, *extra):
        L = self.loaders
        args = ['-config', self.config, '-kernel', self.kernel,
                '-initrd', f'{self.initrd_a},{self.initrd_b}', '-cmdline', 'console=ttyS0 quiet', '-debug',
                '-ipxe-bios', L['undionly.kpxe'], '-ipxe-efi64', L['ipxe.efi'], '-ipxe-ipxe', L['ipxe.pxe'],
                '-pxelinux', L['lpxelinux.0'], '-ldlinux', L['ldlinux.c32'],
                '-syslinux-efi64', L['syslinux.efi'], '-ldlinux-e64', L['ldlinux.e64'], *extra]
        if self.launch_daemon(args):
            return True
        self.diag_not_started(f'pixiecore {" ".join(extra)}')
        return False


lab = Lab()


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------

def has_opt(reply, code):
    return any(c == code for c, _ in reply.get('options', []))


def ip_hex(ip):
    return bytes(int(x) for x in ip.split('.'))


def single_reply(res, name):
    """The one reply of a positive check; a failing TAP line when there is none."""
    if res is None:
        tap.ok(False, f'{name}: got a reply', 'pxe-client failed')
        return None
    sent = res['sent'][0]['xid'] if res['sent'] else None
    replies = [r for r in res['replies'] if r.get('xid') == sent]
    if not tap.ok(len(replies) >= 1, f'{name}: got a reply',
                  f'no reply to xid {sent}; received {len(res["replies"])} other datagrams'):
        tap.diag('daemon log tail:\n' + lab.log_text()[-1500:])
        return None
    return replies[0]


def no_reply(res, name):
    if res is None:
        return tap.ok(False, name, 'pxe-client failed')
    return tap.ok(not res['replies'], name,
                  f'{len(res["replies"])} datagrams came back: ' +
                  '; '.join(f'{r.get("from")} len {r["len"]} file {r.get("file")!r}' for r in res['replies'][:3]))


def check_reply(r, name, *, xid, mac, msg_type=2, to='255.255.255.255', from_port=67, file=None,
                guid=None, vendor43='absent', sname='server', giaddr='0.0.0.0', broadcast_flag=True,
                brief=False):
    """Checks a ProxyDHCP OFFER (msg_type 2) or a boot server ACK (5).
    guid: expected option 97 payload (hex) or None for "absent".
    vendor43: 'absent', exact bytes, or a callable(bytes) -> bool.
    sname: 'server' (server IP text), None (do not check) or an exact string.
    brief: only the per-scenario essentials (type, file, 43, 97), not the common fields."""
    s = lab.server_ip
    tap.eq(opt(r, 53), bytes([msg_type]), f'{name}: option 53 = {msg_type}')
    if file is not None:
        tap.eq(r.get('file'), file, f'{name}: boot file')
    if vendor43 == 'absent':
        tap.ok(not has_opt(r, 43), f'{name}: no option 43', f'option 43 = {opt(r, 43)!r}')
    elif callable(vendor43):
        tap.ok(opt(r, 43) is not None and vendor43(opt(r, 43)), f'{name}: option 43 content',
               f'option 43 = {opt(r, 43)!r}')
    elif vendor43 is not None:
        tap.eq(opt(r, 43), vendor43, f'{name}: option 43 = {vendor43.hex(" ")}')
    if guid is None:
        tap.ok(not has_opt(r, 97), f'{name}: no option 97', f'option 97 = {opt(r, 97)!r}')
    else:
        tap.eq(opt(r, 97), bytes.fromhex(guid), f'{name}: option 97 echoed byte-exact')
    if brief:
        return
    tap.eq(r.get('from'), f'{s}:{from_port}', f'{name}: sent from {s}:{from_port}')
    tap.eq(r.get('to'), to, f'{name}: sent to {to}')
    tap.eq(r.get('op'), 2, f'{name}: op 2 (BOOTREPLY)')
    tap.eq((r.get('htype'), r.get('hlen')), (1, 6), f'{name}: htype 1, hlen 6')
    tap.eq(r.get('xid'), xid, f'{name}: xid copied')
    tap.eq(r.get('chaddr'), mac, f'{name}: chaddr copied')
    tap.eq(r.get('chaddr_rest'), '00' * 10, f'{name}: chaddr padded with zeros')
    tap.eq(r.get('yiaddr'), '0.0.0.0', f'{name}: yiaddr 0 (no address offered)')
    tap.eq(r.get('siaddr'), s, f'{name}: siaddr = server IP')
    tap.eq(r.get('giaddr'), giaddr, f'{name}: giaddr {giaddr}')
    if broadcast_flag:
        tap.ok(r.get('flags', 0) & 0x8000, f'{name}: broadcast flag set', f'flags 0x{r.get("flags", 0):04x}')
    tap.ok(r.get('magic_ok'), f'{name}: magic cookie')
    first = r['options'][0][0] if r.get('options') else None
    tap.eq(first, 53, f'{name}: option 53 comes first')
    tap.eq(opt(r, 54), ip_hex(s), f'{name}: option 54 = server IP')
    tap.eq(opt(r, 60), b'PXEClient', f'{name}: option 60 = "PXEClient"')
    tap.ok(r.get('end_seen'), f'{name}: options end with 255')
    tap.ok(r['len'] >= 300, f'{name}: at least 300 bytes (BOOTP minimum)', f'{r["len"]} bytes')
    if sname == 'server':
        tap.eq(r.get('sname'), s, f'{name}: sname = server IP text')
    elif sname is not None:
        tap.eq(r.get('sname'), sname, f'{name}: sname')


def discover(name, *args, mac=MAC, xid=0x1000, timeout=3.0, src_port=68, to=None, port=67):
    a = ['--mac', mac, '--xid', hex(xid), *args]
    if to:
        a += ['--to', to, '--port', port]
    return single_reply(lab.client(*a, timeout=timeout, replies=1, src_port=src_port), name)


def url_ipxe(mac, arch):
    return f'http://{lab.server_ip}/_/ipxe?mac={mac}&arch={arch}'


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------

def test_bios():
    name = 'BIOS PXE DISCOVER'
    r = discover(name, '--arch', '0', '--vendor-class', 'PXEClient:Arch:00000:UNDI:002001', '--guid', GUID,
                 '--flags', '0', xid=0x11223344)
    if r:
        check_reply(r, name, xid='0x11223344', mac=MAC, file=f'{dashed(MAC)}/undionly.kpxe', guid=GUID,
                    vendor43=bytes.fromhex('060108ff'))

    name = 'BIOS PXE DISCOVER without option 97'
    r = discover(name, '--arch', '0', '--guid', 'none', xid=0x11223345)
    if r:
        check_reply(r, name, xid='0x11223345', mac=MAC, file=f'{dashed(MAC)}/undionly.kpxe', guid=None,
                    vendor43=bytes.fromhex('060108ff'), brief=True)

    name = 'BIOS PXE DISCOVER with malformed option 97 (16 bytes)'
    r = discover(name, '--arch', '0', '--guid', GUID[2:], xid=0x11223346)
    if r:
        check_reply(r, name, xid='0x11223346', mac=MAC, file=f'{dashed(MAC)}/undionly.kpxe', guid=None,
                    vendor43=bytes.fromhex('060108ff'), brief=True)

    name = 'PXE DISCOVER with option 60 PXEClient but no option 93'
    r = discover(name, '--arch', 'none', '--vendor-class', 'PXEClient:Arch:00000:UNDI:002001', xid=0x11223347)
    if r:
        check_reply(r, name, xid='0x11223347', mac=MAC, file=f'{dashed(MAC)}/undionly.kpxe', guid=GUID,
                    vendor43=bytes.fromhex('060108ff'), brief=True)


def test_efi():
    mac = '52:54:00:aa:00:07'
    for arch in (7, 9):
        name = f'EFI PXE DISCOVER (93={arch})'
        r = discover(name, '--arch', str(arch), '--guid', GUID, mac=mac, xid=0x22000000 + arch)
        if r:
            check_reply(r, name, xid=f'0x{0x22000000 + arch:08x}', mac=mac, file=f'{dashed(mac)}/ipxe.efi',
                        guid=GUID, vendor43='absent', brief=arch == 9)


def test_ipxe():
    mac = '52:54:00:bb:00:01'
    name = 'iPXE DISCOVER (77 iPXE, 175 HTTP+BZIMAGE, 93=0)'
    r = discover(name, '--arch', '0', '--user-class', 'iPXE', '--ipxe-features', 'http,bzimage,dns,tftp',
                 mac=mac, xid=0x33000001)
    if r:
        check_reply(r, name, xid='0x33000001', mac=mac, file=url_ipxe(mac, 0), guid=GUID, vendor43=None,
                    sname=None)

    name = 'iPXE EFI DISCOVER (77 iPXE, 175 HTTP+EFI, 93=7)'
    r = discover(name, '--arch', '7', '--user-class', 'iPXE', '--ipxe-features', 'http,efi', mac=mac,
                 xid=0x33000002)
    if r:
        check_reply(r, name, xid='0x33000002', mac=mac, file=url_ipxe(mac, 7), guid=GUID, vendor43=None,
                    sname=None, brief=True)

    name = 'iPXE DISCOVER without HTTP (175 without 19)'
    r = discover(name, '--arch', '0', '--user-class', 'iPXE', '--ipxe-features', 'bzimage,tftp', mac=mac,
                 xid=0x33000003)
    if r:
        check_reply(r, name, xid='0x33000003', mac=mac,
                    file=f'tftp://{lab.server_ip}/{dashed(mac)}/ipxe.pxe', guid=GUID, vendor43=None, sname=None,
                    brief=True)

    name = 'iPXE DISCOVER with HTTP but no BZIMAGE'
    r = discover(name, '--arch', '0', '--user-class', 'iPXE', '--ipxe-features', 'http', mac=mac,
                 xid=0x33000004)
    if r:
        check_reply(r, name, xid='0x33000004', mac=mac,
                    file=f'tftp://{lab.server_ip}/{dashed(mac)}/ipxe.pxe', guid=GUID, vendor43=None, sname=None,
                    brief=True)


# Expected boot file per DISCOVER in each capture (in capture order).
CAPTURE_DISCOVERS = {
    'standin-bios-ipxe-rom.pcap': [('52:54:00:77:00:01', 'http0')],
    'standin-uefi-ipxe-rom.pcap': [('52:54:00:77:00:02', 'http7'), ('52:54:00:77:00:02', 'http7')],
    'standin-uefi-native-edk2.pcap': [('52:54:00:77:00:03', 'efi'), ('52:54:00:77:00:03', 'http7')],
    'pixiecore-uefi-native-edk2.pcap': [('52:54:00:77:00:03', 'efi'), ('52:54:00:77:00:03', 'http7')],
}
# Expected ACK per port-4011 request: (source port, mac, boot file kind, boot item echoed or None)
CAPTURE_4011 = {
    'standin-bios-ipxe-rom.pcap': [(68, '52:54:00:77:00:01', 'http0', '80000000')],
    'standin-uefi-ipxe-rom.pcap': [(68, '52:54:00:77:00:02', 'http7', None)],
    'standin-uefi-native-edk2.pcap': [(4011, '52:54:00:77:00:03', 'efi', None),
                                      (68, '52:54:00:77:00:03', 'http7', None)],
    'pixiecore-uefi-native-edk2.pcap': [(4011, '52:54:00:77:00:03', 'efi', None)],
}


def expected_file(kind, mac):
    return {'http0': url_ipxe(mac, 0), 'http7': url_ipxe(mac, 7), 'efi': f'{dashed(mac)}/ipxe.efi'}[kind]


def capture_packets(path, port, mtype):
    res = subprocess.run([PYTHON, CLIENT, '--replay', path, '--replay-port', str(port), '--replay-type', mtype,
                          '--list'], capture_output=True, text=True, timeout=20)
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def test_replay():
    zero_guid = '00' * 17
    for cap, expected in CAPTURE_DISCOVERS.items():
        path = os.path.join(CAPTURES, cap)
        if not os.path.exists(path):
            tap.skip(f'replay {cap}', 'capture missing')
            continue
        pkts = capture_packets(path, 67, 'discover')
        tap.eq(len(pkts), len(expected), f'replay {cap}: {len(expected)} DISCOVERs in the capture')
        for i, (pkt, (mac, kind)) in enumerate(zip(pkts, expected)):
            name = f'replay {cap} DISCOVER #{i}'
            r = single_reply(lab.client('--replay', path, '--replay-port', '67', '--replay-type', 'discover',
                                        '--replay-index', i, timeout=3, replies=1), name)
            if r:
                check_reply(r, name, xid=pkt['xid'], mac=mac, file=expected_file(kind, mac), guid=zero_guid,
                            vendor43='absent' if kind == 'efi' else None,
                            sname='server' if kind == 'efi' else None, brief=i > 0)

    paths = [os.path.join(CAPTURES, c) for c in CAPTURE_DISCOVERS if os.path.exists(os.path.join(CAPTURES, c))]
    args = []
    for p in paths:
        args += ['--replay', p]
    no_reply(lab.client(*args, '--replay-port', '67', '--replay-type', 'request', '--interval', '0.02'),
             'replayed DHCPREQUESTs from all captures on port 67: no reply')

    for cap, expected in CAPTURE_4011.items():
        path = os.path.join(CAPTURES, cap)
        if not os.path.exists(path):
            tap.skip(f'replay {cap} port 4011', 'capture missing')
            continue
        pkts = capture_packets(path, 4011, 'request')
        tap.eq(len(pkts), len(expected), f'replay {cap}: {len(expected)} port-4011 requests in the capture')
        for i, (pkt, (sport, mac, kind, item)) in enumerate(zip(pkts, expected)):
            name = f'replay {cap} port-4011 request #{i} (from port {sport})'
            r = single_reply(lab.client('--replay', path, '--replay-port', '4011', '--replay-type', 'request',
                                        '--replay-index', i, '--to', lab.server_ip, '--port', '4011',
                                        timeout=3, replies=1, src_port=sport), name)
            if r:
                check_reply(r, name, msg_type=5, xid=pkt['xid'], mac=mac, to=lab.client_ip, from_port=4011,
                            file=expected_file(kind, mac), guid=zero_guid,
                            vendor43='absent' if item is None else bytes.fromhex(f'4704{item}ff'),
                            sname='server' if kind == 'efi' else None, broadcast_flag=False, brief=i > 0)


def test_silence():
    no_reply(lab.client('--mac', '52:54:00:cc:00:01', '--arch', 'none', '--vendor-class', 'none', '--guid', 'none'),
             'non-PXE DISCOVER (no 93, no 60): no reply within 1 s')
    no_reply(lab.client('--mac', '52:54:00:cc:00:02', '--arch', 'none', '--vendor-class', 'MSFT 5.0', '--guid',
                        'none'), 'DISCOVER with option 60 "MSFT 5.0" and no 93: no reply')
    no_reply(lab.client('--mac', '52:54:00:cc:00:03', '--type', 'request', '--arch', '0',
                        '--option', f'54:{ip_hex(lab.server_ip).hex()}', '--option', '50:0a4e0064'),
             'DHCPREQUEST with option 93 on port 67: no reply')
    no_reply(lab.client('--mac', '52:54:00:cc:00:04', '--arch', '11'), 'unsupported arch (93=11, ARM64): no reply')
    no_reply(lab.client('--mac', '52:54:00:cc:00:05', '--arch', '6'),
             'EFI IA32 (93=6) without -ipxe-efi32: no reply')
    no_reply(lab.client('--mac', '52:54:00:cc:00:06', '--type', 'inform', '--arch', '0'),
             'DHCPINFORM with option 93 on port 67: no reply')


def test_relay():
    name = 'relayed DISCOVER (giaddr = client address, from port 67)'
    r = discover(name, '--arch', '0', '--giaddr', lab.client_ip, '--flags', '0', mac='52:54:00:dd:00:01',
                 xid=0x44000001, src_port=67, to=lab.server_ip, port=67)
    if r:
        check_reply(r, name, xid='0x44000001', mac='52:54:00:dd:00:01', to=lab.client_ip, giaddr=lab.client_ip,
                    file='52-54-00-dd-00-01/undionly.kpxe', guid=GUID, vendor43=bytes.fromhex('060108ff'))


def test_4011():
    mac = '52:54:00:ee:00:07'
    name = 'port 4011 REQUEST 93=7 with boot item 71, from port 4011 (OVMF style)'
    r = discover(name, '--type', 'request', '--arch', '7', '--boot-item', '80000000', '--ciaddr', lab.client_ip,
                 '--flags', '0', mac=mac, xid=0x55000007, src_port=4011, to=lab.server_ip, port=4011)
    if r:
        check_reply(r, name, msg_type=5, xid='0x55000007', mac=mac, to=lab.client_ip, from_port=4011,
                    file=f'{dashed(mac)}/ipxe.efi', guid=GUID, broadcast_flag=False,
                    vendor43=lambda v: b'\x47\x04\x80\x00\x00\x00' in v and v.endswith(b'\xff'))
        tap.eq(r.get('ciaddr'), lab.client_ip, f'{name}: ciaddr copied')

    mac = '52:54:00:ee:00:00'
    name = 'port 4011 REQUEST 93=0 (BIOS) from port 68'
    r = discover(name, '--type', 'request', '--arch', '0', '--ciaddr', lab.client_ip, '--flags', '0', mac=mac,
                 xid=0x55000000, src_port=68, to=lab.server_ip, port=4011)
    if r:
        check_reply(r, name, msg_type=5, xid='0x55000000', mac=mac, to=lab.client_ip, from_port=4011,
                    file=f'{dashed(mac)}/undionly.kpxe', guid=GUID, broadcast_flag=False, vendor43=None)

    name = 'port 4011 REQUEST 93=0 with boot item from port 68'
    r = discover(name, '--type', 'request', '--arch', '0', '--boot-item', '80000000', '--ciaddr', lab.client_ip,
                 mac=mac, xid=0x55000001, src_port=68, to=lab.server_ip, port=4011)
    if r:
        check_reply(r, name, msg_type=5, xid='0x55000001', mac=mac, file=f'{dashed(mac)}/undionly.kpxe',
                    guid=GUID, vendor43=lambda v: b'\x47\x04\x80\x00\x00\x00' in v and v.endswith(b'\xff'),
                    brief=True)

    no_reply(lab.client('--type', 'request', '--arch', '11', '--ciaddr', lab.client_ip, '--to', lab.server_ip,
                        '--port', '4011', '--mac', mac), 'port 4011 REQUEST with 93=11: no reply')
    no_reply(lab.client('--type', 'request', '--arch', 'none', '--vendor-class', 'none', '--ciaddr', lab.client_ip,
                        '--to', lab.server_ip, '--port', '4011', '--mac', mac),
             'port 4011 REQUEST without 93/60: no reply')


def malformed_packets():
    """(description, hex) of datagrams the daemon must drop silently."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('pxe_client', CLIENT)
    pc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pc)
    import random
    rng = random.Random(4011)

    valid = pc.build_packet(mac='52:54:00:ff:00:01', xid=0x66000000)
    out = []

    def add(desc, data):
        out.append((desc, bytes(data).hex()))

    add('empty datagram', b'')
    add('1 byte', b'\x01')
    add('DISCOVER truncated to 100 bytes', valid[:100])
    add('DISCOVER truncated inside the magic cookie (238 bytes)', valid[:238])
    add('DISCOVER truncated inside option 53 (242 bytes)', valid[:242])
    bad = bytearray(valid)
    bad[236:240] = b'\x63\x82\x53\x64'
    add('bad magic cookie', bad)
    add('300 random bytes', bytes(rng.getrandbits(8) for _ in range(300)))
    add('1500 random bytes', bytes(rng.getrandbits(8) for _ in range(1500)))
    add('2000 random bytes (larger than the receive buffer)', bytes(rng.getrandbits(8) for _ in range(2000)))
    # well-framed header, then an option whose length runs past the end
    add('option 93 claims 64 bytes', valid[:240] + bytes.fromhex('350101 5d40 0000'))
    add('option 93 of 3 bytes', pc.build_packet(mac='52:54:00:ff:00:02', xid=0x66000002, arch=None,
                                                vendor_class=None, extra_options=[(93, b'\x00\x00\x00')]))
    add('option 93 of 0 bytes', pc.build_packet(mac='52:54:00:ff:00:03', xid=0x66000003, arch=None,
                                                vendor_class=None, extra_options=[(93, b'')]))
    add('hlen 16', pc.build_packet(mac='52:54:00:ff:00:04', xid=0x66000004, hlen=16))
    add('hlen 0', pc.build_packet(mac='52:54:00:ff:00:05', xid=0x66000005, hlen=0))
    add('htype 6 (IEEE 802)', pc.build_packet(mac='52:54:00:ff:00:06', xid=0x66000006, htype=6))
    add('op 2 (a BOOTREPLY)', pc.build_packet(mac='52:54:00:ff:00:07', xid=0x66000007, op=2))
    add('no END, options run to the end of the datagram',
        pc.build_packet(mac='52:54:00:ff:00:08', xid=0x66000008, arch=None, vendor_class=None)[:-1] +
        bytes.fromhex('5d02'))
    add('all 0xff after the header', valid[:240] + b'\xff' * 60)
    return out


def test_malformed():
    pkts = malformed_packets()
    hexes = []
    for _, h in pkts:
        hexes += ['--raw-hex', h]
    tap.diag('malformed: ' + '; '.join(d for d, _ in pkts))
    no_reply(lab.client(*hexes, '--interval', '0.01'), f'{len(pkts)} malformed packets on port 67: no reply')
    tap.ok(lab.alive(), 'daemon alive after malformed packets on port 67')
    no_reply(lab.client(*hexes, '--interval', '0.01', '--to', lab.server_ip, '--port', '4011'),
             f'{len(pkts)} malformed packets on port 4011: no reply')
    tap.ok(lab.alive(), 'daemon alive after malformed packets on port 4011')
    r = discover('valid DISCOVER after the malformed ones', '--arch', '0', xid=0x66000100)
    if r:
        tap.eq(r.get('file'), f'{dashed(MAC)}/undionly.kpxe', 'valid DISCOVER after the malformed ones: boot file')
    r = discover('valid port-4011 REQUEST after the malformed ones', '--type', 'request', '--arch', '7',
                 '--ciaddr', lab.client_ip, xid=0x66000101, to=lab.server_ip, port=4011)
    if r:
        tap.eq(opt(r, 53), b'\x05', 'valid port-4011 REQUEST after the malformed ones: ACK')
    log = lab.log_text()
    tap.ok('warning' not in log.lower() and 'error' not in log.lower(), 'no warnings or errors in the daemon log',
           '\n'.join(line for line in log.splitlines() if 'warning' in line.lower() or 'error' in line.lower())[:2000])


def test_pxelinux():
    if not tap.ok(lab.start_daemon('--bootloader', 'pxelinux'), 'daemon starts with --bootloader pxelinux'):
        return
    mac = '52:54:00:99:00:01'
    name = 'pxelinux mode: BIOS DISCOVER'
    r = discover(name, '--arch', '0', mac=mac, xid=0x77000001)
    if r:
        check_reply(r, name, xid='0x77000001', mac=mac, file=f'{dashed(mac)}/lpxelinux.0', guid=GUID,
                    vendor43=bytes.fromhex('060108ff'))
        tap.eq(opt(r, 210), f'http://{lab.server_ip}/'.encode(), f'{name}: option 210 (path prefix)')
        v = opt(r, 211)
        tap.ok(v is not None and len(v) == 4, f'{name}: option 211 (reboot time) present, 4 bytes', repr(v))
    name = 'pxelinux mode: EFI DISCOVER (93=7)'
    r = discover(name, '--arch', '7', mac=mac, xid=0x77000007)
    if r:
        check_reply(r, name, xid='0x77000007', mac=mac, file=f'{dashed(mac)}/syslinux.efi', guid=GUID,
                    vendor43='absent', brief=True)
        tap.eq(opt(r, 210), f'http://{lab.server_ip}/'.encode(), f'{name}: option 210 (path prefix)')
    name = 'pxelinux mode: port-4011 REQUEST 93=0'
    r = discover(name, '--type', 'request', '--arch', '0', '--ciaddr', lab.client_ip, mac=mac, xid=0x77000100,
                 to=lab.server_ip, port=4011)
    if r:
        check_reply(r, name, msg_type=5, xid='0x77000100', mac=mac, file=f'{dashed(mac)}/lpxelinux.0', guid=GUID,
                    vendor43=None, brief=True)
        tap.eq(opt(r, 210), f'http://{lab.server_ip}/'.encode(), f'{name}: option 210 (path prefix)')


def test_interface_filter():
    if tap.ok(lab.start_daemon('-interface', 'lo'), 'daemon starts with -interface lo'):
        no_reply(lab.client('--arch', '0', '--mac', '52:54:00:88:00:01'),
                 '-interface lo: DISCOVER arriving on the veth gets no reply')
        no_reply(lab.client('--type', 'request', '--arch', '7', '--to', lab.server_ip, '--port', '4011',
                            '--mac', '52:54:00:88:00:01'),
                 '-interface lo: port-4011 REQUEST arriving on the veth gets no reply')
    if tap.ok(lab.start_daemon('-interface', 'veth-s'), 'daemon starts with -interface veth-s'):
        r = discover('-interface veth-s: DISCOVER on the veth', '--arch', '0', mac='52:54:00:88:00:02',
                     xid=0x88000002)
        if r:
            tap.eq(r.get('file'), '52-54-00-88-00-02/undionly.kpxe', '-interface veth-s: boot file')


def main():
    skip = pxtest.cannot_run()
    if skip is not None:
        return skip

    def body():
        lab.up()
        lab.make_payload()
        tap.diag(f'server {lab.srv} {lab.server_ip}, client {lab.cli} {lab.client_ip}, tmp {lab.tmp}')
        if tap.ok(lab.start_daemon(), 'daemon starts (static mode, iPXE)'):
            test_bios()
            test_efi()
            test_ipxe()
            test_replay()
            test_silence()
            test_relay()
            test_4011()
            test_malformed()
            rc = lab.stop_daemon()
            tap.eq(rc, 0, 'daemon exits 0 on SIGTERM')
        test_pxelinux()
        test_interface_filter()

    return pxtest.run(body, lab)


if __name__ == '__main__':
    sys.exit(main())
