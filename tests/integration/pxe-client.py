#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A scripted PXE client for pixiecore's integration tests (python3 standard library only).

Runs wherever it is started (the tests start it inside a network namespace of their own with
`ip netns exec`), binds a UDP port (68 by default, SO_BROADCAST, SO_BINDTODEVICE with --iface),
sends one or more DHCP packets and prints every datagram that comes back within --timeout as
JSON on stdout:

    {"sent": [{"len": 300, "xid": "0x12345678", "to": "255.255.255.255:67"}, ...],
     "replies": [{"from": "10.78.5.1:67", "to": "255.255.255.255", "ifindex": 2, "len": 300,
                  "op": 2, "xid": "0x12345678", "flags": 32768, "ciaddr": ..., "yiaddr": ...,
                  "siaddr": ..., "giaddr": ..., "chaddr": "52:54:00:12:34:56", "sname": "...",
                  "file": "...", "magic_ok": true, "options": [[53, "02"], [54, "0a4e0501"], ...],
                  "raw": "<hex>"}, ...]}

"to" is the destination address the reply was sent to (IP_PKTINFO), so a test can tell a
broadcast reply from a unicast one. Options keep their wire order and are given as hex.

Packets, in the order given (several may be sent in one run; all replies are collected):
  built from scratch (default; see "build" options below)
  --replay PCAP          client packets from a capture (repeatable) (Ethernet or Linux cooked, IPv4/UDP to
                         port 67 or 4011); --replay-index N picks the N-th one (0-based) among
                         those matching --replay-port / --replay-type; default: all of them
  --raw-hex HEX          a literal datagram (repeatable)
  --garbage N[:SEED]     N random bytes (repeatable; deterministic with a seed)

Modifiers applied to every packet: --truncate N, --bad-magic, --set-mac MAC (rewrites chaddr),
--set-xid XID, --set-giaddr IP.

Exit status: 0 on success (whatever was received), 2 on usage or socket errors. With
--expect-none / --expect N the exit status is 1 when the count of replies differs.

Also usable as a library: build_packet(), parse_packet(), read_pcap_client_packets().
"""

import argparse
import ipaddress
import json
import os
import random
import select
import socket
import struct
import sys
import time

MAGIC = bytes.fromhex('63825363')
HEADER_LEN = 236

# Linux constants the socket module may lack
SO_BINDTODEVICE = getattr(socket, 'SO_BINDTODEVICE', 25)
IP_PKTINFO = getattr(socket, 'IP_PKTINFO', 8)

MESSAGE_TYPES = {'discover': 1, 'offer': 2, 'request': 3, 'decline': 4, 'ack': 5, 'nak': 6,
                 'release': 7, 'inform': 8}

# iPXE's encapsulated option 175 sub-options ("feature" codes, each payload: a version byte)
IPXE_FEATURES = {'pxe_ext': 16, 'http': 19, 'https': 20, 'tftp': 21, 'dns': 23, 'bzimage': 24,
                 'multiboot': 25, 'pxe': 33, 'elf': 34, 'comboot': 35, 'efi': 36, 'menu': 39}

# The parameter request list of a real Intel/SeaBIOS-style BIOS PXE ROM.
BIOS_PRL = bytes([1, 2, 3, 4, 5, 6, 11, 12, 13, 15, 16, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50,
                  51, 54, 58, 59, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135])


def mac_bytes(text):
    b = bytes.fromhex(text.replace(':', '').replace('-', ''))
    if len(b) != 6:
        raise ValueError(f'bad MAC {text!r}')
    return b


def mac_text(b):
    return ':'.join(f'{x:02x}' for x in b[:6])


def ip_bytes(text):
    return ipaddress.IPv4Address(text).packed


def opt(code, payload):
    payload = bytes(payload)
    out = b''
    # RFC 3396: long options are split into several instances
    while True:
        chunk, payload = payload[:255], payload[255:]
        out += bytes([code, len(chunk)]) + chunk
        if not payload:
            return out


def build_packet(msg_type=1, mac='52:54:00:12:34:56', xid=None, arch=0, vendor_class='auto',
                 guid='auto', user_class=None, ipxe_features=None, boot_item=None, extra_options=(),
                 giaddr='0.0.0.0', ciaddr='0.0.0.0', flags=0x8000, hops=0, secs=0, op=1,
                 htype=1, hlen=6, prl=BIOS_PRL, max_size=1260, pad_to=0):
    """A client DHCP packet. arch None omits option 93; vendor_class 'auto' derives option 60
    from arch ("PXEClient:Arch:NNNNN:UNDI:002001"), None omits it; guid 'auto' is a fixed
    non-zero UUID, None omits 97, bytes give the full payload (17 bytes normally);
    ipxe_features is a list of 175 sub-option codes (or names); boot_item (4 bytes) puts
    sub-option 71 into option 43; extra_options: (code, bytes) pairs, appended before END."""
    if xid is None:
        xid = random.getrandbits(32)
    chaddr = mac_bytes(mac) if isinstance(mac, str) else bytes(mac)
    head = struct.pack('!BBBBIHH', op, htype, hlen, hops, xid, secs, flags)
    head += ip_bytes(ciaddr) + bytes(4) + bytes(4) + ip_bytes(giaddr)
    head += chaddr.ljust(16, b'\0') + bytes(64) + bytes(128)
    assert len(head) == HEADER_LEN
    opts = b''
    if msg_type is not None:
        opts += opt(53, [msg_type])
    if max_size:
        opts += opt(57, struct.pack('!H', max_size))
    if prl:
        opts += opt(55, prl)
    if arch is not None:
        opts += opt(93, struct.pack('!H', arch))
        opts += opt(94, [1, 2, 1])
    if vendor_class == 'auto':
        vendor_class = None if arch is None else f'PXEClient:Arch:{arch:05d}:UNDI:002001'
    if vendor_class is not None:
        opts += opt(60, vendor_class.encode() if isinstance(vendor_class, str) else vendor_class)
    if guid == 'auto':
        guid = bytes([0]) + bytes(range(0x11, 0x21))
    if guid is not None:
        opts += opt(97, guid)
    if user_class is not None:
        opts += opt(77, user_class.encode() if isinstance(user_class, str) else user_class)
    if ipxe_features is not None:
        sub = b''
        for f in ipxe_features:
            code = IPXE_FEATURES[f] if isinstance(f, str) else int(f)
            sub += bytes([code, 1, 1])
        opts += opt(175, sub)
    if boot_item is not None:
        opts += opt(43, bytes([71, 4]) + bytes(boot_item) + bytes([255]))
    for code, payload in extra_options:
        opts += opt(code, payload)
    pkt = head + MAGIC + opts + bytes([255])
    if len(pkt) < pad_to:
        pkt += bytes(pad_to - len(pkt))
    return pkt


def parse_packet(data):
    """Decodes a BOOTP/DHCP datagram as far as it goes; never raises."""
    r = {'len': len(data)}
    if len(data) < HEADER_LEN:
        r['error'] = 'short'
        return r
    op, htype, hlen, hops, xid, secs, flags = struct.unpack('!BBBBIHH', data[:12])
    r.update(op=op, htype=htype, hlen=hlen, hops=hops, xid=f'0x{xid:08x}', secs=secs, flags=flags,
             ciaddr=socket.inet_ntoa(data[12:16]), yiaddr=socket.inet_ntoa(data[16:20]),
             siaddr=socket.inet_ntoa(data[20:24]), giaddr=socket.inet_ntoa(data[24:28]),
             chaddr=mac_text(data[28:34]), chaddr_rest=data[34:44].hex(),
             sname=data[44:108].split(b'\0', 1)[0].decode('latin-1'),
             file=data[108:236].split(b'\0', 1)[0].decode('latin-1'))
    r['magic_ok'] = data[236:240] == MAGIC
    options = []
    pos = 240
    end_seen = False
    while r['magic_ok'] and pos < len(data):
        code = data[pos]
        if code == 0:
            pos += 1
            continue
        if code == 255:
            end_seen = True
            pos += 1
            break
        if pos + 1 >= len(data) or pos + 2 + data[pos + 1] > len(data):
            r['error'] = f'truncated option {code}'
            break
        n = data[pos + 1]
        options.append([code, data[pos + 2:pos + 2 + n].hex()])
        pos += 2 + n
    r['options'] = options
    r['end_seen'] = end_seen
    r['after_end'] = data[pos:].hex() if end_seen else ''
    return r


def option(parsed, code):
    """Payload (bytes) of the first instance of `code` in a parse_packet() result, or None."""
    for c, h in parsed.get('options', []):
        if c == code:
            return bytes.fromhex(h)
    return None


def read_pcap_client_packets(path, ports=(67, 4011)):
    """(dst_port, src_port, payload) of every IPv4/UDP datagram to one of `ports` that carries a
    BOOTREQUEST (op 1, so not a server's reply) in a classic pcap file."""
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError(f'{path}: not a pcap file')
    magic = data[:4]
    if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
        endian = '<'
    elif magic in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
        endian = '>'
    else:
        raise ValueError(f'{path}: not a classic pcap file (pcapng is not supported)')
    linktype = struct.unpack(endian + 'I', data[20:24])[0]
    out = []
    pos = 24
    while pos + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + 'IIII', data[pos:pos + 16])
        frame = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        if linktype == 1:  # Ethernet, maybe one VLAN tag
            if len(frame) < 14:
                continue
            ethertype = struct.unpack('!H', frame[12:14])[0]
            l3 = frame[14:]
            if ethertype == 0x8100 and len(frame) >= 18:
                ethertype = struct.unpack('!H', frame[16:18])[0]
                l3 = frame[18:]
        elif linktype == 113:  # Linux cooked
            if len(frame) < 16:
                continue
            ethertype = struct.unpack('!H', frame[14:16])[0]
            l3 = frame[16:]
        elif linktype in (101, 228):  # raw IPv4
            ethertype, l3 = 0x0800, frame
        else:
            raise ValueError(f'{path}: unsupported link type {linktype}')
        if ethertype != 0x0800 or len(l3) < 20 or l3[0] >> 4 != 4 or l3[9] != 17:
            continue
        ihl = (l3[0] & 0xf) * 4
        total = struct.unpack('!H', l3[2:4])[0]
        l4 = l3[ihl:total]
        if len(l4) < 8:
            continue
        sport, dport, ulen = struct.unpack('!HHH', l4[:6])
        payload = bytes(l4[8:ulen])
        if dport in ports and payload[:1] == b'\x01':
            out.append((dport, sport, payload))
    return out


def mutate(pkt, a):
    pkt = bytearray(pkt)
    if a.set_mac and len(pkt) >= 34:
        pkt[28:34] = mac_bytes(a.set_mac)
    if a.set_xid is not None and len(pkt) >= 8:
        pkt[4:8] = struct.pack('!I', a.set_xid)
    if a.set_giaddr and len(pkt) >= 28:
        pkt[24:28] = ip_bytes(a.set_giaddr)
    if a.bad_magic and len(pkt) >= 240:
        pkt[236:240] = b'\x63\x82\x53\x64'
    if a.truncate is not None:
        pkt = pkt[:a.truncate]
    return bytes(pkt)


def recv_with_pktinfo(sock):
    data, anc, _, addr = sock.recvmsg(65535, socket.CMSG_SPACE(12))
    dst, ifindex = None, None
    for level, typ, cdata in anc:
        if level == socket.IPPROTO_IP and typ == IP_PKTINFO and len(cdata) >= 12:
            ifindex = struct.unpack('=i', cdata[:4])[0]
            dst = socket.inet_ntoa(cdata[8:12])  # ipi_addr: the header destination
    return data, addr, dst, ifindex


def int_any(s):
    return int(s, 0)


def main(argv=None):
    p = argparse.ArgumentParser(description='Scripted PXE client: send DHCP packets, print replies as JSON.')
    g = p.add_argument_group('sending')
    g.add_argument('--to', default='255.255.255.255', help='destination address (default broadcast)')
    g.add_argument('--port', type=int, default=67, help='destination port (default 67)')
    g.add_argument('--bind', default='0.0.0.0', help='local address to bind (default any)')
    g.add_argument('--src-port', type=int, default=68, help='local port (default 68)')
    g.add_argument('--iface', help='SO_BINDTODEVICE to this interface')
    g.add_argument('--timeout', type=float, default=1.0, help='seconds to collect replies after the last send')
    g.add_argument('--max-replies', type=int, default=0, help='stop after this many replies (0: wait the timeout)')
    g.add_argument('--interval', type=float, default=0.0, help='pause between packets')
    g.add_argument('--match-xid', action='store_true', help='ignore datagrams whose xid matches no sent packet')
    g.add_argument('--expect-none', action='store_true', help='exit 1 if anything is received')
    g.add_argument('--expect', type=int, help='exit 1 unless exactly this many replies arrive')
    g.add_argument('--pretty', action='store_true', help='indented JSON')

    g = p.add_argument_group('packet sources (default: one built packet)')
    g.add_argument('--replay', metavar='PCAP', action='append', default=[],
                   help='send client packets from this capture (repeatable)')
    g.add_argument('--replay-port', type=int, help='only capture packets to this port (67 or 4011)')
    g.add_argument('--replay-type', help='only capture packets of this DHCP type (discover, request, ...)')
    g.add_argument('--replay-index', type=int, help='only the N-th matching capture packet (0-based)')
    g.add_argument('--list', action='store_true', help='with --replay: print the matching packets, send nothing')
    g.add_argument('--raw-hex', action='append', default=[], help='a literal datagram in hex (repeatable)')
    g.add_argument('--garbage', action='append', default=[], metavar='N[:SEED]', help='N random bytes (repeatable)')
    g.add_argument('--also-build', action='store_true', help='send a built packet too, after the others')

    g = p.add_argument_group('building')
    g.add_argument('--type', default='discover', help='DHCP message type name or number; "none" omits option 53')
    g.add_argument('--op', type=int, default=1)
    g.add_argument('--mac', default='52:54:00:12:34:56')
    g.add_argument('--xid', type=int_any, help='transaction id (default random)')
    g.add_argument('--arch', default='0', help='option 93 value, or "none"')
    g.add_argument('--vendor-class', default='auto', help='option 60 text; "auto" (from --arch) or "none"')
    g.add_argument('--guid', default='auto', help='option 97 payload in hex; "auto" or "none"')
    g.add_argument('--user-class', help='option 77, raw text (iPXE sends "iPXE")')
    g.add_argument('--ipxe-features', help='option 175 sub-options: comma-separated names or codes ("" for empty)')
    g.add_argument('--boot-item', help='4 bytes hex: option 43 with PXE_BOOT_ITEM (71)')
    g.add_argument('--option', action='append', default=[], metavar='CODE:HEX', help='extra option (repeatable)')
    g.add_argument('--giaddr', default='0.0.0.0')
    g.add_argument('--ciaddr', default='0.0.0.0')
    g.add_argument('--flags', type=int_any, default=0x8000)
    g.add_argument('--hops', type=int, default=0)
    g.add_argument('--pad-to', type=int, default=0, help='pad the built packet with zeros to this length')

    g = p.add_argument_group('modifiers (every packet)')
    g.add_argument('--set-mac', help='rewrite chaddr')
    g.add_argument('--set-xid', type=int_any)
    g.add_argument('--set-giaddr')
    g.add_argument('--truncate', type=int, help='cut each packet to this many bytes')
    g.add_argument('--bad-magic', action='store_true', help='corrupt the magic cookie')
    a = p.parse_args(argv)

    packets = []
    if a.replay:
        want_type = None
        if a.replay_type:
            want_type = MESSAGE_TYPES.get(a.replay_type.lower()) or int(a.replay_type, 0)
        matching = []
        captured = []
        try:
            for path in a.replay:
                captured += read_pcap_client_packets(path)
        except (OSError, ValueError) as e:
            print(f'pxe-client: {e}', file=sys.stderr)
            return 2
        for dport, sport, payload in captured:
            if a.replay_port and dport != a.replay_port:
                continue
            parsed = parse_packet(payload)
            mt = option(parsed, 53)
            if want_type is not None and (mt is None or mt[0] != want_type):
                continue
            matching.append((dport, sport, payload, parsed))
        if a.replay_index is not None:
            if a.replay_index >= len(matching):
                print(f'pxe-client: {" ".join(a.replay)}: {len(matching)} matching packets, no index {a.replay_index}',
                      file=sys.stderr)
                return 2
            matching = [matching[a.replay_index]]
        if a.list:
            for dport, sport, payload, parsed in matching:
                print(json.dumps({'dport': dport, 'sport': sport, **parsed}, indent=2 if a.pretty else None))
            return 0
        packets += [m[2] for m in matching]
    for h in a.raw_hex:
        packets.append(bytes.fromhex(h))
    for spec in a.garbage:
        n, _, seed = spec.partition(':')
        rng = random.Random(int(seed) if seed else None)
        packets.append(bytes(rng.getrandbits(8) for _ in range(int(n))))
    if not packets or a.also_build:
        mt = None if a.type == 'none' else (MESSAGE_TYPES.get(a.type.lower()) or int(a.type, 0))
        extra = []
        for spec in a.option:
            code, _, hexdata = spec.partition(':')
            extra.append((int(code, 0), bytes.fromhex(hexdata)))
        features = None
        if a.ipxe_features is not None:
            features = [f.strip() for f in a.ipxe_features.split(',') if f.strip()]
            features = [int(f) if f.isdigit() else f for f in features]
        packets.append(build_packet(
            msg_type=mt, op=a.op, mac=a.mac, xid=a.xid,
            arch=None if a.arch == 'none' else int(a.arch, 0),
            vendor_class=None if a.vendor_class == 'none' else a.vendor_class,
            guid=None if a.guid == 'none' else ('auto' if a.guid == 'auto' else bytes.fromhex(a.guid)),
            user_class=a.user_class, ipxe_features=features,
            boot_item=bytes.fromhex(a.boot_item) if a.boot_item else None, extra_options=extra,
            giaddr=a.giaddr, ciaddr=a.ciaddr, flags=a.flags, hops=a.hops, pad_to=a.pad_to))
    packets = [mutate(pk, a) for pk in packets]

    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        if a.iface:
            sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, a.iface.encode())
        sock.bind((a.bind, a.src_port))
    except OSError as e:
        print(f'pxe-client: cannot set up the socket ({a.bind}:{a.src_port}): {e}', file=sys.stderr)
        return 2

    result = {'sent': [], 'replies': []}
    for i, pk in enumerate(packets):
        if i and a.interval:
            time.sleep(a.interval)
        try:
            sock.sendto(pk, (a.to, a.port))
        except OSError as e:
            hint = ' (broadcasts without a default route need --iface)' if e.errno == 101 and not a.iface else ''
            print(f'pxe-client: sending to {a.to}:{a.port}: {e}{hint}', file=sys.stderr)
            return 2
        xid = f'0x{struct.unpack("!I", pk[4:8])[0]:08x}' if len(pk) >= 8 else None
        result['sent'].append({'len': len(pk), 'xid': xid, 'to': f'{a.to}:{a.port}'})

    # Bounded: at most --timeout seconds, and at most 1000 datagrams.
    sent_xids = {s['xid'] for s in result['sent']}
    ignored = 0
    deadline = time.monotonic() + a.timeout
    while len(result['replies']) + ignored < 1000:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            break
        data, addr, dst, ifindex = recv_with_pktinfo(sock)
        r = parse_packet(data)
        if a.match_xid and r.get('xid') not in sent_xids:
            ignored += 1
            continue
        r.update({'from': f'{addr[0]}:{addr[1]}', 'to': dst, 'ifindex': ifindex, 'raw': data.hex(),
                  'at': round(a.timeout - max(left, 0), 3)})
        result['replies'].append(r)
        if a.max_replies and len(result['replies']) >= a.max_replies:
            break
    sock.close()
    if ignored:
        result['ignored'] = ignored
    print(json.dumps(result, indent=2 if a.pretty else None))
    if a.expect_none and result['replies']:
        return 1
    if a.expect is not None and len(result['replies']) != a.expect:
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
