#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Timelines and tables for bench-e2e.sh (python3 standard library only).

  e2e_timeline.py boot PCAP SERIAL_STAMPED START_EPOCH SERVER_IP
      One boot: reads the packet capture of the lab switch (IPv4 DHCP, TFTP, HTTP) and the
      timestamped serial log ("<epoch> <line>" per line) and prints one JSON object with the
      milestones in seconds after VM start.
  e2e_timeline.py report RESULTS.jsonl
      All boots: the Markdown result table (median wall time to PXL-BOOT-OK per mode and
      setup), then per mode the median milestones of both setups side by side.

A milestone the capture cannot show (no TFTP in a mode whose NIC ROM already is iPXE) is
null and printed as "-".
"""

import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from benchlib import median, table  # noqa: E402

DHCP_TYPES = {1: 'discover', 2: 'offer', 3: 'request', 4: 'decline', 5: 'ack', 6: 'nak', 7: 'release',
              8: 'inform'}


def read_pcap(path):
    """Yields (epoch, frame bytes, original length) from a classic pcap file (Ethernet)."""
    with open(path, 'rb') as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return
        magic = hdr[:4]
        if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
            end = '<'
        elif magic in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
            end = '>'
        else:
            raise ValueError(f'{path}: not a pcap file')
        nano = magic in (b'\x4d\x3c\xb2\xa1', b'\xa1\xb2\x3c\x4d')
        linktype = struct.unpack(end + 'I', hdr[20:24])[0]
        if linktype != 1:
            raise ValueError(f'{path}: link type {linktype}, want Ethernet')
        rec = struct.Struct(end + 'IIII')
        while True:
            r = f.read(16)
            if len(r) < 16:
                return
            sec, frac, incl, orig = rec.unpack(r)
            data = f.read(incl)
            if len(data) < incl:
                return
            yield sec + frac / (1e9 if nano else 1e6), data, orig


def packets(path):
    """Yields dicts for IPv4 UDP/TCP packets: t, proto, src, dst, sport, dport, payload, plen."""
    for t, fr, _orig in read_pcap(path):
        if len(fr) < 34 or fr[12:14] != b'\x08\x00':
            continue
        ip = fr[14:]
        ihl = (ip[0] & 0x0f) * 4
        total = struct.unpack('>H', ip[2:4])[0]
        proto = ip[9]
        src = '.'.join(str(b) for b in ip[12:16])
        dst = '.'.join(str(b) for b in ip[16:20])
        l4 = ip[ihl:]
        if proto == 17 and len(l4) >= 8:
            sport, dport = struct.unpack('>HH', l4[:4])
            yield {'t': t, 'proto': 'udp', 'src': src, 'dst': dst, 'sport': sport, 'dport': dport,
                   'payload': l4[8:], 'plen': total - ihl - 8}
        elif proto == 6 and len(l4) >= 20:
            sport, dport = struct.unpack('>HH', l4[:4])
            doff = (l4[12] >> 4) * 4
            yield {'t': t, 'proto': 'tcp', 'src': src, 'dst': dst, 'sport': sport, 'dport': dport,
                   'payload': l4[doff:], 'plen': total - ihl - doff, 'flags': l4[13],
                   'seq': struct.unpack('>I', l4[4:8])[0]}


def dhcp_info(payload):
    """(message type, xid, is_ipxe) of a BOOTP/DHCP payload, or None."""
    if len(payload) < 240 or payload[236:240] != b'\x63\x82\x53\x63':
        return None
    xid = struct.unpack('>I', payload[4:8])[0]
    mtype, ipxe = None, False
    i = 240
    while i < len(payload):
        code = payload[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 1 >= len(payload):
            break
        ln = payload[i + 1]
        val = payload[i + 2:i + 2 + ln]
        if code == 53 and ln >= 1:
            mtype = DHCP_TYPES.get(val[0], str(val[0]))
        elif code == 77 and b'iPXE' in val:
            ipxe = True
        elif code == 175:
            ipxe = True
        i += 2 + ln
    return mtype, xid, ipxe


def serial_marks(path):
    """First epoch of each interesting serial line."""
    marks = {}
    want = {'PXL-CMDLINE:': 'cmdline', 'PXL-BOOT-OK': 'boot_ok'}
    try:
        with open(path, errors='replace') as f:
            for line in f:
                ts, _, text = line.partition(' ')
                for needle, key in want.items():
                    if needle in text and key not in marks:
                        try:
                            marks[key] = float(ts)
                        except ValueError:
                            pass
    except OSError:
        pass
    return marks


def boot_timeline(pcap, serial, start, server_ip):
    """Milestones of one boot, seconds after start (None when not seen)."""
    m = {'first_discover': None, 'ipxe_discover': None, 'ipxe_offer_first': None, 'ipxe_offers': 0,
         'ipxe_ack': None, 'fw_ack': None, 'tftp_rrq': None, 'tftp_done': None, 'tftp_bytes': 0,
         'get_script': None, 'get_kernel': None, 'kernel_ttfb': None, 'kernel_done': None,
         'kernel_bytes': 0, 'get_initrd': None, 'http_done': None, 'http_gets': 0,
         'http_retransmits': 0, 'cmdline': None, 'boot_ok': None}
    gets = []  # [t, path, client port, first data t, last data t, new bytes]
    sent_end = {}  # client port -> end (seq) of the server's data sent so far
    conns = {}  # client port -> index of its latest GET
    tftp_ports = set()
    ipxe_xids = set()
    for p in (packets(pcap) if os.path.exists(pcap) else ()):
        t = p['t'] - start
        if p['proto'] == 'udp':
            if {p['sport'], p['dport']} == {67, 68}:
                d = dhcp_info(p['payload'])
                if not d:
                    continue
                mtype, xid, ipxe = d
                if mtype == 'discover':
                    if m['first_discover'] is None:
                        m['first_discover'] = t
                    if ipxe:
                        ipxe_xids.add(xid)
                        if m['ipxe_discover'] is None:
                            m['ipxe_discover'] = t
                elif mtype == 'request' and ipxe:
                    ipxe_xids.add(xid)
                elif mtype == 'offer' and xid in ipxe_xids and m['ipxe_ack'] is None:
                    m['ipxe_offers'] += 1
                    if m['ipxe_offer_first'] is None:
                        m['ipxe_offer_first'] = t
                elif mtype == 'ack':
                    if xid in ipxe_xids:
                        if m['ipxe_ack'] is None:
                            m['ipxe_ack'] = t
                    elif m['fw_ack'] is None:
                        m['fw_ack'] = t
            elif p['dport'] == 69:
                if m['tftp_rrq'] is None:
                    m['tftp_rrq'] = t
                tftp_ports.add(p['sport'])
            elif p['sport'] in tftp_ports or p['dport'] in tftp_ports:
                m['tftp_done'] = t
                if p['dport'] in tftp_ports and p['payload'][:2] == b'\x00\x03':
                    m['tftp_bytes'] += max(0, p['plen'] - 4)
        elif p['proto'] == 'tcp':
            if p['dport'] == 80 and p['dst'] == server_ip and p['payload'][:4] == b'GET ':
                path = p['payload'][4:].split(b' ', 1)[0].decode('latin-1')
                conns[p['sport']] = len(gets)
                gets.append([t, path, p['sport'], None, None, 0])
            elif p['sport'] == 80 and p['src'] == server_ip and p['plen'] > 0 and p['dport'] in conns:
                # Only new data counts: a retransmission (e.g. of the last response while the
                # guest has already jumped into the kernel) is not a later "last byte".
                end = (p['seq'] + p['plen']) & 0xffffffff
                prev = sent_end.get(p['dport'])
                new = p['plen'] if prev is None else (end - prev) & 0xffffffff
                if new == 0 or new >= 0x80000000:
                    m['http_retransmits'] += 1
                    continue
                sent_end[p['dport']] = end
                g = gets[conns[p['dport']]]
                if g[3] is None:
                    g[3] = t
                g[4] = t
                g[5] += min(new, p['plen'])
    m['http_gets'] = len(gets)
    if gets:
        m['get_script'] = gets[0][0]
        done = [g[4] for g in gets if g[4] is not None]
        m['http_done'] = max(done) if done else None
    for g in gets:
        name = g[1].rsplit('/', 1)[-1].split('?', 1)[0]
        if m['get_kernel'] is None and ('kernel' in name or 'vmlinuz' in name):
            m['get_kernel'] = g[0]
            m['kernel_ttfb'] = None if g[3] is None else g[3] - g[0]
            m['kernel_done'] = g[4]
            m['kernel_bytes'] = g[5]
        elif m['get_initrd'] is None and 'initrd' in name:
            m['get_initrd'] = g[0]
    m['gets'] = [{'t': round(g[0], 3), 'path': g[1], 'ttfb': None if g[3] is None else round(g[3] - g[0], 4),
                  'end': None if g[4] is None else round(g[4], 3), 'bytes': g[5]} for g in gets]
    for k, v in serial_marks(serial).items():
        m[k] = v - start
    for k, v in list(m.items()):
        if isinstance(v, float):
            m[k] = round(v, 3)
    return m


# Rows of the milestone table: (label, key or (key_a, key_b) for a duration b - a)
MILESTONES = [
    ('first DHCPDISCOVER (firmware start-up)', 'first_discover'),
    ('firmware DHCP ACK (uefi-native)', 'fw_ack'),
    ('TFTP RRQ', 'tftp_rrq'),
    ('TFTP done', 'tftp_done'),
    ('iPXE DHCPDISCOVER', 'ipxe_discover'),
    ('iPXE: first OFFER', 'ipxe_offer_first'),
    ('iPXE: DHCP ACK', 'ipxe_ack'),
    ('GET script', 'get_script'),
    ('GET kernel', 'get_kernel'),
    ('kernel received', 'kernel_done'),
    ('GET first initrd', 'get_initrd'),
    ('last HTTP byte', 'http_done'),
    ('PXL-CMDLINE (init runs)', 'cmdline'),
    ('PXL-BOOT-OK', 'boot_ok'),
]
NETWORK_PATH = ('first_discover', 'http_done')
PHASES = [
    ('firmware until DHCP', (None, 'first_discover')),
    ('firmware DHCP (DISCOVER→ACK)', ('first_discover', 'fw_ack')),
    ('firmware ACK→TFTP RRQ', ('fw_ack', 'tftp_rrq')),
    ('TFTP transfer (iPXE)', ('tftp_rrq', 'tftp_done')),
    ('TFTP done→iPXE DISCOVER (iPXE start-up)', ('tftp_done', 'ipxe_discover')),
    ('iPXE DHCP (DISCOVER→ACK)', ('ipxe_discover', 'ipxe_ack')),
    ('  of it DISCOVER→first OFFER', ('ipxe_discover', 'ipxe_offer_first')),
    ('ACK→GET script', ('ipxe_ack', 'get_script')),
    ('script→GET kernel', ('get_script', 'get_kernel')),
    ('kernel transfer', ('get_kernel', 'kernel_done')),
    ('  of it time to first byte', 'kernel_ttfb'),
    ('kernel→last HTTP byte (initrds)', ('kernel_done', 'http_done')),
    ('last HTTP byte→PXL-BOOT-OK (Linux)', ('http_done', 'boot_ok')),
]


def fmt(v, digits=2):
    return '-' if v is None else f'{v:.{digits}f}'


def med(boots, key):
    if isinstance(key, tuple):
        a, b = key
        vals = [x[b] - (0.0 if a is None else x[a]) for x in boots
                if x.get(b) is not None and (a is None or x.get(a) is not None)]
    else:
        vals = [x[key] for x in boots if x.get(key) is not None]
    return median(vals) if vals else None


def runs(values):
    return f'{median(values):.2f} ({", ".join(f"{v:.2f}" for v in values)})'


def report(path):
    boots = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                boots.append(json.loads(line))
    modes, setups = [], []
    for b in boots:
        if b['mode'] not in modes:
            modes.append(b['mode'])
        if b['setup'] not in setups:
            setups.append(b['setup'])
    extra = [s for s in setups if s not in ('pixiecore', 'reference')]
    headers = ['mode', 'pixiecore s (median; runs)', 'reference s (median; runs)', 'ratio px/ref',
               'target met (px ≤ ref)']
    for s in extra:
        headers += [f'{s} s (median; runs)', f'ratio px/{s}']
    headers += [f'network path s: {s}' for s in ['pixiecore', 'reference'] + extra]
    rows = []
    verdict = 0
    for mode in modes:
        secs = {s: [b['seconds'] for b in boots if b['mode'] == mode and b['setup'] == s] for s in setups}
        px, ref = secs.get('pixiecore', []), secs.get('reference', [])
        if not px or not ref:
            row = [mode, runs(px) if px else '-', runs(ref) if ref else '-', '-', 'no data']
            verdict |= 1
        else:
            mp, mr = median(px), median(ref)
            verdict |= 0 if mp <= mr else 2
            row = [mode, runs(px), runs(ref), f'{mp / mr:.3f}', 'yes' if mp <= mr else 'NO']
        for s in extra:
            row += [runs(secs[s]) if secs[s] else '-',
                    f'{median(px) / median(secs[s]):.3f}' if px and secs[s] else '-']
        for s in ['pixiecore', 'reference'] + extra:
            tl = [b['timeline'] for b in boots if b['mode'] == mode and b['setup'] == s and b.get('timeline')]
            row.append(fmt(med(tl, NETWORK_PATH)))
        rows.append(row)
    table(headers, rows,
          title='bench-e2e: VM start → PXL-BOOT-OK, QEMU TCG (reference: dnsmasq DHCP+TFTP, busybox httpd)')
    print('\nnetwork path = first DHCPDISCOVER → last HTTP byte (median), the part the servers take part in;'
          ' firmware start-up and the Linux boot are the same work in every setup but CPU-bound, so'
          ' they carry most of the noise when the host is busy.')
    for mode in modes:
        sel = {s: [b['timeline'] for b in boots if b['mode'] == mode and b['setup'] == s and b.get('timeline')]
               for s in setups}
        if not sel.get('pixiecore') or not sel.get('reference'):
            continue
        cols = ['pixiecore', 'reference'] + [s for s in extra if sel[s]]
        rows = []
        for label, key in MILESTONES:
            v = [med(sel[c], key) for c in cols]
            if all(x is None for x in v):
                continue
            rows.append([label] + [fmt(x) for x in v] +
                        ['-' if v[0] is None or v[1] is None else f'{v[0] - v[1]:+.2f}'])
        table(['milestone (s after VM start, median)'] + cols + ['px − ref'], rows,
              title=f'{mode}: milestones (lab switch capture + serial log)')
        rows = []
        for label, key in PHASES:
            v = [med(sel[c], key) for c in cols]
            if all(x is None for x in v):
                continue
            rows.append([label] + [fmt(x, 3) for x in v] +
                        ['-' if v[0] is None or v[1] is None else f'{v[0] - v[1]:+.3f}'])
        rows.append(['iPXE DHCP offers seen (median)'] +
                    [fmt(median([x['ipxe_offers'] for x in sel[c]]), 0) for c in cols] + [''])
        rows.append(['kernel bytes captured (median)'] +
                    [fmt(median([x['kernel_bytes'] for x in sel[c]]), 0) for c in cols] + [''])
        rows.append(['HTTP retransmitted segments (median)'] +
                    [fmt(median([x.get('http_retransmits', 0) for x in sel[c]]), 0) for c in cols] + [''])
        table(['phase (s, median)'] + cols + ['px − ref'], rows, title=f'{mode}: phases')
    return verdict


def main(argv):
    if len(argv) >= 2 and argv[1] == 'boot' and len(argv) == 6:
        print(json.dumps(boot_timeline(argv[2], argv[3], float(argv[4]), argv[5])))
        return 0
    if len(argv) == 3 and argv[1] == 'report':
        return report(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
