"""One end of a netlab delay line (run by ``netlab.Lab.delayed_link`` inside a namespace, never imported):
it attaches to the TUN device DEV of its namespace, hands every packet the kernel sends out of DEV to the
other end through the inherited socket FD at once, and writes every packet the other end hands it into
DEV ``delay`` seconds after it came -- so each direction of the link is ``delay`` seconds long, as a WAN
is (this kernel has no netem). It ends when the other end does, or on SIGTERM.

    python delayline.py DEV FD DELAY
"""

from __future__ import annotations

import fcntl
import heapq
import os
import selectors
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000


def main() -> int:
    dev, fd, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    tun = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", dev.encode(), IFF_TUN | IFF_NO_PI))
    other = socket.socket(fileno=fd)
    due: list[tuple[float, int, bytes]] = []  # (when, order, packet) to write into the device
    order = 0
    selector = selectors.DefaultSelector()
    selector.register(tun, selectors.EVENT_READ, "tun")
    selector.register(other, selectors.EVENT_READ, "other")
    print("ready", flush=True)
    while True:
        timeout = max(due[0][0] - time.monotonic(), 0.0) if due else None
        for key, _ in selector.select(timeout):
            if key.data == "tun":
                other.send(os.read(tun, 65536))
            else:
                packet = other.recv(65536)
                if not packet:
                    return 0
                order += 1
                heapq.heappush(due, (time.monotonic() + delay, order, packet))
        now = time.monotonic()
        while due and due[0][0] <= now:
            os.write(tun, heapq.heappop(due)[2])


if __name__ == "__main__":
    sys.exit(main())
