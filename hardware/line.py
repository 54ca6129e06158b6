"""The meter end of a serial line or TCP socket, with line-speed emulation and faults.

A pty ignores baud rates (../shared/reference/meters.md §5.6), so a serial
simulator waits as long as the bytes would take on the wire: the request's
characters, the meter's turnaround, then the reply's characters, at
`bits_per_char` (11 for 8E1, 10 for 8N1) per character.  The slave side of the pty
is what the gateway opens; `link` gives it a stable name.  The simulator keeps its
own slave descriptor open so the gateway can close and reopen the port freely."""

from __future__ import annotations

import asyncio
import os
import tty


class MeterHandler:
    """What a protocol simulator implements."""

    checksum_at = -2         # index of the checksum byte in a reply (for the checksum fault)

    def parser(self):
        """A fresh request parser (one per line or TCP connection): feed(bytes) -> [request]."""
        raise NotImplementedError

    def respond(self, request, now: float, fault: str | None) -> bytes | None:
        """The reply to a request (None: the addressed meter is not here, or no reply is due)."""
        raise NotImplementedError

    def faults_for(self, request):
        """The Faults of the meter a request is addressed to, or None."""
        return None

    def corrupt(self, reply: bytes, fault: str, faults) -> bytes:
        return faults.corrupt(reply, fault, self.checksum_at)


class Line:
    def __init__(self, handler: MeterHandler, clock, baud: int = 0, bits_per_char: int = 11,
                 turnaround_s: float = 0.0) -> None:
        self.handler = handler
        self.clock = clock
        self.baud = baud
        self.bits_per_char = bits_per_char
        self.turnaround_s = turnaround_s
        self.requests = 0
        self.replies = 0

    def wire_s(self, n: int) -> float:
        return n * self.bits_per_char / self.baud if self.baud else 0.0

    async def _serve_bytes(self, parser, data: bytes, write, arrived: float) -> None:
        loop = asyncio.get_running_loop()
        for request in parser.feed(data):
            self.requests += 1
            faults = self.handler.faults_for(request)
            fault = faults.pick() if faults is not None else None
            reply = self.handler.respond(request, self.clock(), fault)
            if reply is None or fault == 'no_answer':
                continue
            if fault in ('checksum', 'garbled'):
                reply = self.handler.corrupt(reply, fault, faults)
            # the request's last character arrives wire_s(len) after its first; then the
            # meter turns round; then its reply takes wire_s(len(reply)) to arrive
            due = arrived + self.wire_s(len(data)) + self.turnaround_s + self.wire_s(len(reply))
            if fault == 'late':
                due += faults.late_s
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            write(reply)
            self.replies += 1


class PtyLine(Line):
    def __init__(self, handler: MeterHandler, clock, link: str | None = None, **kw) -> None:
        super().__init__(handler, clock, **kw)
        self.master, self._slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(self._slave)
        self.device = os.ttyname(self._slave)
        self.link = link
        if link:
            os.makedirs(os.path.dirname(os.path.abspath(link)), exist_ok=True)
            if os.path.lexists(link):
                os.remove(link)
            os.symlink(self.device, link)
        self._queue: asyncio.Queue = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._parser = handler.parser()

    @property
    def path(self) -> str:
        return self.link or self.device

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except OSError:
            return
        if data:
            self._queue.put_nowait((data, asyncio.get_running_loop().time()))

    def _write(self, data: bytes) -> None:
        os.write(self.master, data)

    async def _worker(self) -> None:
        while True:                  # one request at a time, as a meter on a half-duplex line
            data, arrived = await self._queue.get()
            await self._serve_bytes(self._parser, data, self._write, arrived)

    async def start(self) -> None:
        os.set_blocking(self.master, False)
        asyncio.get_running_loop().add_reader(self.master, self._readable)
        self._task = asyncio.create_task(self._worker())

    async def stop(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)
        if self._task:
            self._task.cancel()
        os.close(self.master)
        os.close(self._slave)
        if self.link and os.path.islink(self.link):
            os.remove(self.link)


class TcpLine(Line):
    def __init__(self, handler: MeterHandler, clock, host: str = '127.0.0.1', port: int = 0,
                 latency_s: float = 0.0) -> None:
        super().__init__(handler, clock, turnaround_s=latency_s)
        self.host = host
        self.port = port
        self.server: asyncio.AbstractServer | None = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = self.handler.parser()
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                await self._serve_bytes(parser, data, writer.write, asyncio.get_running_loop().time())
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, self.host, self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server:
            self.server.close()
            await self.server.wait_closed()
