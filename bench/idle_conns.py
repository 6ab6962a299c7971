#!/usr/bin/python3
"""Idle connections for the RSS benchmark (bench/tcp_forward.sh).

  idle_conns.py server PORT
      Accept connections on 127.0.0.1:PORT, echo the first byte of each,
      then hold it open until the peer closes. Prints "listening" when bound.
  idle_conns.py client PORT N [--concurrency C]
      Open N connections to 127.0.0.1:PORT; on each send one byte and wait for
      its echo (so the path through the forwarder to the backend is proven
      for every connection), then keep them all open and idle. Prints
      "ready N" when all N are established, then waits for SIGTERM/SIGINT
      and closes everything. Gives up (exit 1) after --budget seconds.

Both sides need N descriptors: run them with `ulimit -n` raised.
"""
import asyncio
import signal
import sys


async def serve(port):
    conns = set()

    async def on_conn(reader, writer):
        conns.add(writer)
        try:
            b = await reader.read(1)
            if b:
                writer.write(b)
                await writer.drain()
                while await reader.read(4096):
                    pass
        except (ConnectionError, OSError):
            pass
        finally:
            conns.discard(writer)
            writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", port, backlog=4096, reuse_address=True)
    print("listening", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


async def one(port, sem, held, failures, deadline):
    loop = asyncio.get_running_loop()
    async with sem:
        delay = 0.05
        while True:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
                writer.write(b"x")
                await writer.drain()
                b = await asyncio.wait_for(reader.readexactly(1), 10)
                if b != b"x":
                    raise ConnectionError("bad echo %r" % b)
                held.append((reader, writer))
                return
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError) as e:
                failures.append(repr(e))
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)


async def client(port, n, concurrency, budget):
    sem = asyncio.Semaphore(concurrency)
    held, failures = [], []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    t0 = loop.time()
    tasks = [asyncio.ensure_future(one(port, sem, held, failures, deadline)) for _ in range(n)]
    done, _ = await asyncio.wait(tasks)
    errors = [t.exception() for t in done if t.exception()]
    if errors:
        print("failed %d of %d connections, first error: %r" % (len(errors), n, errors[0]), flush=True)
        for _, w in held:
            w.close()
        return 1
    print("ready %d in %.1fs (%d retries)" % (len(held), loop.time() - t0, len(failures)), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for _, w in held:
        w.close()
    await asyncio.sleep(0.2)
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "server":
        asyncio.run(serve(int(argv[2])))
        return 0
    if len(argv) >= 4 and argv[1] == "client":
        conc = 256
        budget = 120.0
        rest = argv[4:]
        while rest:
            if rest[0] == "--concurrency" and len(rest) > 1:
                conc = int(rest[1])
                rest = rest[2:]
            elif rest[0] == "--budget" and len(rest) > 1:
                budget = float(rest[1])
                rest = rest[2:]
            else:
                break
        return asyncio.run(client(int(argv[2]), int(argv[3]), conc, budget))
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
