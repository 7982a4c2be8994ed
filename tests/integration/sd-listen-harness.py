#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Helpers for the socket-activation tests (python3 standard library only).

  sd-listen-harness.py exec --fd udp:0.0.0.0:67:NAME [--fd ...] --notify-log FILE
                            [--watchdog-usec N] [--no-names] -- COMMAND [ARG...]

      Does what systemd does for a socket unit plus a Type=notify service: binds each --fd
      socket itself (SO_REUSEADDR, SO_BROADCAST and IP_PKTINFO like Broadcast=yes and
      PassPacketInfo=yes, listen() for TCP), then forks; the child moves the sockets to fds 3,
      4, ... in --fd order, sets LISTEN_FDS, LISTEN_PID (its own pid, which exec keeps),
      LISTEN_FDNAMES (unless --no-names), NOTIFY_SOCKET (and WATCHDOG_USEC/WATCHDOG_PID) and execs COMMAND. The
      parent listens on NOTIFY_SOCKET and appends every message to FILE, one assignment per line,
      prefixed with the sender's pid ("1234 READY=1"); "- EXIT n" when the child ends. SIGTERM
      and SIGINT are forwarded to the child; the parent exits with the child's status.
      Its stdout gets "PID <child pid>", then "FD <n> <proto> <addr>:<port> name=<name>
      inode=<socket inode>" for each passed socket.

  sd-listen-harness.py activate --fd udp:0.0.0.0:67:NAME [--fd ...] --notify-log FILE
                                [--events FILE] [--max-starts N] [--watchdog-usec N] [--no-names]
                                -- COMMAND [ARG...]

      What systemd does for a socket unit whose service is not running (pixiecore.socket plus
      pixiecore.service): binds the --fd sockets like exec and keeps them open for good. While
      no child runs it waits until one of them is readable (a datagram or a pending connection),
      then forks and execs COMMAND with the sockets at fds 3, 4, ... and the same environment
      as exec. The harness does not read from the sockets, so whatever woke it (and anything
      queued while the child starts or after it dies) waits for the next instance. When the
      child exits, with any status, the harness waits for readability again and starts a new
      one; after N starts (--max-starts, default no limit) it exits with the last child's
      status instead. NOTIFY_SOCKET messages go to FILE as with exec ("- EXIT n" after each
      child). SIGTERM and SIGINT: the child gets SIGTERM (SIGKILL after 10 s), the harness
      exits with its status (0 when none runs).
      stdout: the "FD ..." lines once, then "PID <child pid>" for every start.
      --events FILE gets one line per event, flushed at once, times from time.monotonic_ns():
          <ns> TRIGGER <fd index> <name>   a socket became readable while no child ran
          <ns> START <pid>                 taken just before fork()
          <ns> READY <pid>                 READY=1 arrived on NOTIFY_SOCKET from that pid
          <ns> EXIT <pid> <status>         the child was reaped; status is its exit code, or
                                           minus the signal number that killed it (-9: SIGKILL)

  sd-listen-harness.py sockets PID

      Lists the IPv4 sockets PID holds: "<inode> <udp|tcp> <addr>:<port> <state>".

  sd-listen-harness.py dhcp --fixture HEX --to ADDR:PORT [--bind-port 68] [--device IF]
                            [--ciaddr ADDR] [--timeout S]

      Sends a DHCP packet from a tests/data/dhcp/*.hex fixture and waits for the reply with the
      same xid (a BOOTREPLY). Prints its fields and options; exits 0 if one arrived.
"""

import argparse
import fcntl
import os
import select
import signal
import socket
import struct
import sys
import time

IP_PKTINFO = getattr(socket, 'IP_PKTINFO', 8)
SO_BINDTODEVICE = getattr(socket, 'SO_BINDTODEVICE', 25)
SO_PASSCRED = getattr(socket, 'SO_PASSCRED', 16)
SCM_CREDENTIALS = getattr(socket, 'SCM_CREDENTIALS', 2)


def parse_fd_spec(spec):
    # udp:0.0.0.0:67:name  (the name may be empty: "udp:0.0.0.0:67:")
    parts = spec.split(':')
    if len(parts) != 4 or parts[0] not in ('udp', 'tcp'):
        raise SystemExit(f'bad --fd {spec!r}: want udp|tcp:ADDR:PORT:NAME')
    return parts[0], parts[1], int(parts[2]), parts[3]


def bind_socket(proto, addr, port):
    if proto == 'tcp':
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)  # Broadcast=yes
    s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)  # PassPacketInfo=yes
    s.bind((addr, port))
    if proto == 'tcp':
        s.listen(socket.SOMAXCONN)
    return s


def open_notify(args):
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = args.notify_socket or os.path.join(os.path.dirname(os.path.abspath(args.notify_log)), 'notify.sock')
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    notify.bind(path)
    notify.setsockopt(socket.SOL_SOCKET, SO_PASSCRED, 1)
    return notify, path


def spawn(args, socks, names, notify_path):
    """Forks; the child execs args.command with socks at fds 3.. and the LISTEN_* variables."""
    pid = os.fork()
    if pid != 0:
        return pid
    try:
        # Move the sockets out of the way first, so that dup2() onto 3.. never clobbers one
        # that is still to be moved. Everything else is close-on-exec (Python's default).
        tmp = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, 100) for s in socks]
        for i, fd in enumerate(tmp):
            os.dup2(fd, 3 + i, inheritable=True)
        for fd in tmp:
            os.close(fd)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        env = dict(os.environ)
        me = str(os.getpid())
        env['LISTEN_FDS'] = str(len(socks))
        env['LISTEN_PID'] = me
        if args.no_names:
            env.pop('LISTEN_FDNAMES', None)
        else:
            env['LISTEN_FDNAMES'] = ':'.join(names)
        env['NOTIFY_SOCKET'] = notify_path
        if args.watchdog_usec:
            env['WATCHDOG_USEC'] = str(args.watchdog_usec)
            env['WATCHDOG_PID'] = me
        os.execvpe(args.command[0], args.command, env)
    except BaseException as e:  # noqa: BLE001 - report anything, then die without cleanup
        print(f'harness child: {e}', file=sys.stderr)
    os._exit(127)


def drain_notify(notify, log, timeout, on_message=None):
    """Appends every pending notify message to log as '<pid> LINE'; waits up to timeout for the first."""
    r, _, _ = select.select([notify], [], [], timeout)
    while r:
        data, anc, _flags, _addr = notify.recvmsg(4096, socket.CMSG_SPACE(12))
        sender = '?'
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == SCM_CREDENTIALS and len(cdata) >= 12:
                sender = str(struct.unpack('iII', cdata[:12])[0])
        for line in data.decode('utf-8', 'replace').splitlines():
            if line:
                log.write(f'{sender} {line}\n')
                if on_message:
                    on_message(sender, line)
        r, _, _ = select.select([notify], [], [], 0)


def print_fds(socks, specs):
    for i, (s, (proto, addr, port, name)) in enumerate(zip(socks, specs)):
        print(f'FD {3 + i} {proto} {addr}:{port} name={name or "-"} inode={os.fstat(s.fileno()).st_ino}', flush=True)


def cmd_exec(args):
    specs = [parse_fd_spec(s) for s in args.fd]
    if not args.command:
        raise SystemExit('exec: no command')
    socks = [bind_socket(p, a, port) for p, a, port, _ in specs]
    names = [n for _, _, _, n in specs]

    notify, path = open_notify(args)
    log = open(args.notify_log, 'a', buffering=1)

    pid = spawn(args, socks, names, path)
    print(f'PID {pid}', flush=True)
    print_fds(socks, specs)
    for s in socks:
        s.close()  # only the daemon holds them now

    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)

    status = None
    while status is None:
        try:
            drain_notify(notify, log, 0.1)
        except InterruptedError:
            pass
        try:
            done, st = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            break
        if done:
            status = st
    drain_notify(notify, log, 0)
    code = os.waitstatus_to_exitcode(status) if status is not None else 1
    log.write(f'- EXIT {code}\n')
    log.close()
    notify.close()
    os.unlink(path)
    sys.exit(code if code >= 0 else 128 - code)


def cmd_activate(args):
    specs = [parse_fd_spec(s) for s in args.fd]
    if not args.command:
        raise SystemExit('activate: no command')
    if not specs:
        raise SystemExit('activate: no --fd')
    socks = [bind_socket(p, a, port) for p, a, port, _ in specs]
    names = [n for _, _, _, n in specs]
    notify, path = open_notify(args)
    log = open(args.notify_log, 'a', buffering=1)
    events = open(args.events, 'a', buffering=1) if args.events else None

    def event(text):
        if events:
            events.write(f'{time.monotonic_ns()} {text}\n')
            events.flush()

    # Signals wake the select() below through a pipe; the handlers only note them.
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    stop = []
    signal.signal(signal.SIGTERM, lambda signum, _f: stop.append(signum))
    signal.signal(signal.SIGINT, lambda signum, _f: stop.append(signum))
    signal.signal(signal.SIGCHLD, lambda _s, _f: None)

    print_fds(socks, specs)
    child = None
    starts = 0
    last_code = 0

    def on_message(sender, line):
        if line == 'READY=1' and child is not None and sender == str(child):
            event(f'READY {sender}')

    def reap(flags):
        nonlocal child, last_code
        try:
            done, st = os.waitpid(child, flags)
        except ChildProcessError:
            done, st = child, 0
        if not done:
            return False
        drain_notify(notify, log, 0, on_message)
        last_code = os.waitstatus_to_exitcode(st)
        event(f'EXIT {child} {last_code}')
        log.write(f'- EXIT {last_code}\n')
        child = None
        return True

    while True:
        if stop:
            break
        if child is not None and reap(os.WNOHANG) and args.max_starts and starts >= args.max_starts:
            break
        watch = [notify, wake_r] + (socks if child is None else [])
        try:
            ready, _, _ = select.select(watch, [], [], 1.0)
        except InterruptedError:
            continue
        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
        if notify in ready:
            drain_notify(notify, log, 0, on_message)
        if child is None and not stop:
            hit = [i for i, s in enumerate(socks) if s in ready]
            if hit:
                event(f'TRIGGER {hit[0]} {names[hit[0]] or "-"}')
                event_ns = time.monotonic_ns()
                child = spawn(args, socks, names, path)
                starts += 1
                if events:
                    events.write(f'{event_ns} START {child}\n')
                    events.flush()
                print(f'PID {child}', flush=True)

    if child is not None:
        try:
            os.kill(child, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while child is not None and time.monotonic() < deadline:
            if not reap(os.WNOHANG):
                time.sleep(0.05)
        if child is not None:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
            reap(0)
    drain_notify(notify, log, 0, on_message)
    log.close()
    if events:
        events.close()
    notify.close()
    os.unlink(path)
    for s in socks:
        s.close()
    return last_code if last_code >= 0 else 128 - last_code


def cmd_sockets(args):
    """Every inet socket PID holds: 'INODE PROTO ADDR:PORT STATE' (STATE: LISTEN, UNCONN, ...)."""
    inodes = set()
    for fd in os.listdir(f'/proc/{args.pid}/fd'):
        try:
            target = os.readlink(f'/proc/{args.pid}/fd/{fd}')
        except OSError:
            continue
        if target.startswith('socket:['):
            inodes.add(int(target[8:-1]))
    states = {'0A': 'LISTEN', '07': 'UNCONN', '01': 'ESTAB'}
    for proto in ('udp', 'tcp'):
        with open(f'/proc/{args.pid}/net/{proto}') as f:
            next(f)
            for line in f:
                fields = line.split()
                inode = int(fields[9])
                if inode not in inodes:
                    continue
                hexaddr, hexport = fields[1].split(':')
                addr = socket.inet_ntoa(struct.pack('<I', int(hexaddr, 16)))
                print(f'{inode} {proto} {addr}:{int(hexport, 16)} {states.get(fields[3], fields[3])}')
    return 0


def read_fixture(path):
    hexdigits = []
    with open(path) as f:
        for line in f:
            line = line.split('#', 1)[0]
            hexdigits.append(''.join(line.split()))
    return bytearray(bytes.fromhex(''.join(hexdigits)))


def parse_options(pkt):
    opts = {}
    i = 240
    while i < len(pkt):
        code = pkt[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 1 >= len(pkt):
            break
        n = pkt[i + 1]
        opts[code] = bytes(pkt[i + 2:i + 2 + n])
        i += 2 + n
    return opts


def cmd_dhcp(args):
    pkt = read_fixture(args.fixture)
    if args.ciaddr:
        pkt[12:16] = socket.inet_aton(args.ciaddr)
    xid = bytes(pkt[4:8])
    addr, port = args.to.rsplit(':', 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    if args.device:
        s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, args.device.encode())
    s.bind(('0.0.0.0', args.bind_port))
    deadline = time.monotonic() + args.timeout
    next_send = 0.0
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_send:
            s.sendto(pkt, (addr, int(port)))
            next_send = now + 1.0  # firmware retries too; socket activation may start us late
        r, _, _ = select.select([s], [], [], 0.1)
        if not r:
            continue
        data, peer = s.recvfrom(4096)
        if len(data) < 240 or data[0] != 2 or data[4:8] != xid:
            continue
        opts = parse_options(data)
        print(f'reply from {peer[0]}:{peer[1]} op 2 xid {xid.hex()}')
        print(f'siaddr {socket.inet_ntoa(data[20:24])}')
        sname = data[44:108].split(b'\0', 1)[0].decode('latin-1')
        bootfile = data[108:236].split(b'\0', 1)[0].decode('latin-1')
        print(f'sname {sname}')
        print(f'file {bootfile}')
        for code in sorted(opts):
            v = opts[code]
            shown = v.decode('latin-1') if all(32 <= b < 127 for b in v) and v else v.hex()
            print(f'option {code} {shown}')
        return 0
    print(f'no reply with xid {xid.hex()} within {args.timeout}s', file=sys.stderr)
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    e = sub.add_parser('exec')
    e.add_argument('--fd', action='append', default=[], help='udp|tcp:ADDR:PORT:NAME, in fd order')
    e.add_argument('--notify-log', required=True)
    e.add_argument('--notify-socket', help='path of the notify socket (default: next to the log)')
    e.add_argument('--watchdog-usec', type=int, default=0)
    e.add_argument('--no-names', action='store_true', help='do not set LISTEN_FDNAMES')
    e.add_argument('command', nargs=argparse.REMAINDER)
    a = sub.add_parser('activate')
    a.add_argument('--fd', action='append', default=[], help='udp|tcp:ADDR:PORT:NAME, in fd order')
    a.add_argument('--notify-log', required=True)
    a.add_argument('--notify-socket', help='path of the notify socket (default: next to the log)')
    a.add_argument('--events', help='append START/EXIT/... lines with time.monotonic_ns() stamps here')
    a.add_argument('--max-starts', type=int, default=0, help='exit after the Nth child ends (0: no limit)')
    a.add_argument('--watchdog-usec', type=int, default=0)
    a.add_argument('--no-names', action='store_true', help='do not set LISTEN_FDNAMES')
    a.add_argument('command', nargs=argparse.REMAINDER)
    k = sub.add_parser('sockets')
    k.add_argument('pid', type=int)
    d = sub.add_parser('dhcp')
    d.add_argument('--fixture', required=True)
    d.add_argument('--to', required=True)
    d.add_argument('--bind-port', type=int, default=68)
    d.add_argument('--device')
    d.add_argument('--ciaddr')
    d.add_argument('--timeout', type=float, default=5.0)
    args = ap.parse_args()
    if args.cmd == 'exec':
        if args.command and args.command[0] == '--':
            args.command = args.command[1:]
        return cmd_exec(args)
    if args.cmd == 'activate':
        if args.command and args.command[0] == '--':
            args.command = args.command[1:]
        return cmd_activate(args)
    if args.cmd == 'sockets':
        return cmd_sockets(args)
    return cmd_dhcp(args)


if __name__ == '__main__':
    sys.exit(main())
