"""Watch every process's argv on this machine for secrets, until a stop file appears.

Run by verify.yml on the controller while site.yml and deploy_flows.yml run: the instances'
processes (and the containers they run) share this kernel, so /proc here shows them all.

Every exec is caught through the kernel's process connector (netlink; root in the initial
network namespace) and its argv read at once; /proc is also swept every SWEEP_SECONDS, for
argv rewritten after the exec. Without the connector, /proc is swept every POLL_SECONDS.

The report (JSON) never holds a secret: per hit, which secret (its index) and the program.
Markers are strings the caller puts in short-lived processes' argv, to prove that the watch
sees them.

    argv_watch.py SECRETS_JSON MARKERS_JSON REPORT_JSON STOP_FILE

Both lists come in files, so that no argv holds them (the watch's own included).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import time
from pathlib import Path

NETLINK_CONNECTOR = 11
CN_IDX_PROC = 1
CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN = 1
PROC_EVENT_EXEC = 0x00000002
NLMSG_HEADER = struct.Struct("IHHII")  # len, type, flags, seq, pid
CN_MSG = struct.Struct("IIIIHH")  # idx, val, seq, ack, len, flags
EVENT_HEADER = struct.Struct("IIQ")  # what, cpu, timestamp
SWEEP_SECONDS = 1.0
POLL_SECONDS = 0.01


class Watch:
    def __init__(self, secrets: list[str], markers: list[str]) -> None:
        self.secrets = [s.encode() for s in secrets if s]
        self.markers = {m: 0 for m in markers}
        self.hits: dict[tuple[int, str], int] = {}
        self.execs = 0
        self.sweeps = 0
        self.lost = 0
        self.seen = 0

    def check(self, pid: int) -> None:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return  # gone already
        if not argv:
            return
        self.seen += 1
        for number, secret in enumerate(self.secrets):
            if secret in argv:
                program = os.path.basename(argv.split(b"\0", 1)[0].decode(errors="replace"))
                self.hits[(number, program)] = self.hits.get((number, program), 0) + 1
        text = argv.decode(errors="replace")
        for marker in self.markers:
            if marker in text:
                self.markers[marker] += 1

    def sweep(self) -> None:
        self.sweeps += 1
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                self.check(int(entry.name))

    def report(self, mode: str) -> dict:
        return {
            "mode": mode,
            "execs": self.execs,
            "sweeps": self.sweeps,
            "argv_read": self.seen,
            "lost_events": self.lost,
            "markers": self.markers,
            "hits": [
                {"secret": number, "program": program, "count": count}
                for (number, program), count in sorted(self.hits.items())
            ],
        }


def connector() -> socket.socket | None:
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE: bursts of execs
        sock.bind((os.getpid(), CN_IDX_PROC))
        op = struct.pack("I", PROC_CN_MCAST_LISTEN)
        message = CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(op), 0) + op
        sock.send(
            NLMSG_HEADER.pack(NLMSG_HEADER.size + len(message), 3, 0, 0, os.getpid()) + message
        )
    except OSError:
        return None
    return sock


def exec_pids(data: bytes):
    offset = 0
    while offset + NLMSG_HEADER.size <= len(data):
        length = NLMSG_HEADER.unpack_from(data, offset)[0]
        if length < NLMSG_HEADER.size:
            return
        event = offset + NLMSG_HEADER.size + CN_MSG.size
        if event + EVENT_HEADER.size + 8 <= offset + length:
            what = EVENT_HEADER.unpack_from(data, event)[0]
            if what == PROC_EVENT_EXEC:
                yield struct.unpack_from("I", data, event + EVENT_HEADER.size)[0]
        offset += (length + 3) & ~3


def main(secrets_file: str, markers_file: str, report_file: str, stop_file: str) -> int:
    watch = Watch(
        json.loads(Path(secrets_file).read_text()), json.loads(Path(markers_file).read_text())
    )
    stop = Path(stop_file)
    sock = connector()
    mode = "exec events" if sock else "polling"
    next_sweep = 0.0
    if sock:
        sock.settimeout(0.2)
    while not stop.exists():
        if time.monotonic() >= next_sweep or not sock:
            watch.sweep()
            next_sweep = time.monotonic() + SWEEP_SECONDS
        if not sock:
            time.sleep(POLL_SECONDS)
            continue
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:  # ENOBUFS: the burst outran the buffer
            watch.lost += 1
            continue
        for pid in exec_pids(data):
            watch.execs += 1
            watch.check(pid)
    watch.sweep()
    Path(report_file).write_text(json.dumps(watch.report(mode), indent=1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
