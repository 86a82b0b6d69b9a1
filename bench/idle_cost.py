#!/usr/bin/env python3
"""RSS growth of a proxy per idle CONNECT tunnel and per idle keep-alive client connection.

Runs on loopback only and is bounded: it opens N tunnels (or N keep-alive connections after one
request each), waits until the proxy's RSS settles, reports KiB per connection, and closes
everything. It also reports the second half alone ("marginal"): what one more connection costs
once the proxy's fixed costs (its recent-exchanges ring, first allocator growth) are paid.
The last line ends "... KiB each" (compare.sh reads it). Usage: idle_cost.py PROXY_PORT PID[,PID...] N [tunnel|keepalive] [user:pass]
"""
import asyncio
import base64
import resource
import sys
import time


def rss_kib(pids):
    """Summed VmRSS of the comma-separated pids (a proxy may run several processes)."""
    total = 0
    for pid in str(pids).split(","):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


async def main():
    port, pid, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    mode = sys.argv[4] if len(sys.argv) > 4 else "tunnel"
    auth = ""
    if len(sys.argv) > 5:
        auth = "Proxy-Authorization: Basic " + base64.b64encode(sys.argv[5].encode()).decode() + "\r\n"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    held = []

    async def hold(reader, writer):  # the upstream: accept and keep the connection idle
        held.append(writer)
        try:
            await serve(reader, writer)
        except (asyncio.CancelledError, ConnectionError):
            pass

    async def serve(reader, writer):
        data = b""
        while mode == "keepalive":  # serve every request on the (pooled) connection
            more = await reader.read(4096)
            if not more:
                return
            data += more
            while b"\r\n\r\n" in data:
                data = data.split(b"\r\n\r\n", 1)[1]
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()

    server = await asyncio.start_server(hold, "127.0.0.1", 0, backlog=4096)
    upstream_port = server.sockets[0].getsockname()[1]
    # Warm up the proxy (allocator arenas, first connection costs) before the baseline.
    for _ in range(3):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(f"CONNECT 127.0.0.1:{upstream_port} HTTP/1.1\r\n{auth}\r\n".encode())
        await r.readuntil(b"\r\n\r\n")
        w.close()
    await asyncio.sleep(0.5)
    before = rss_kib(pid)
    clients = []
    errors = 0
    start = time.time()
    mid = None  # (RSS, connections) half-way
    for i in range(n):
        if i == n // 2 and mid is None:
            await asyncio.sleep(1.0)
            mid = (rss_kib(pid), len(clients))
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            if mode == "tunnel":
                w.write(f"CONNECT 127.0.0.1:{upstream_port} HTTP/1.1\r\n{auth}\r\n".encode())
                head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 3)
            else:
                w.write(f"GET http://127.0.0.1:{upstream_port}/ HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode())
                head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 3)
                await r.readexactly(2)
            if b" 200 " not in head.split(b"\r\n")[0]:
                errors += 1
            clients.append(w)
        except Exception:
            errors += 1
        if time.time() - start > 60 or errors > 50:
            break  # bounded: a proxy that cannot hold more is reported as it is
    await asyncio.sleep(1.0)
    after = rss_kib(pid)
    opened = len(clients)
    per = (after - before) / max(opened, 1)
    marginal = ""
    if mid is not None and opened > mid[1]:
        marginal = f", marginal {(after - mid[0]) / (opened - mid[1]):.2f} KiB"
    print(f"{mode}: {opened} idle, {errors} errors, RSS {before} -> {after} KiB{marginal}, "
          f"{per:.2f} KiB each")
    for w in clients:
        w.close()
    server.close()


asyncio.run(main())
