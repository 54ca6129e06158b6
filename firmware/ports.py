"""Byte transports for polled buses (CPython, asyncio): a serial line (pyserial) and a
TCP connection.  Both offer one operation, exchange(): clear stale input, send a
request, feed what comes back to the reply collector until it is complete or the
deadline passes.  The bus runner guarantees one exchange at a time per port."""

from __future__ import annotations

import asyncio
import errno
import os

from shared.aio import wait_for


class PortError(Exception):
    """The port itself failed (device gone, connection refused); not the meter's fault."""


def _is_pty(path: str) -> bool:
    return os.path.realpath(path).startswith('/dev/pts/')


class SerialPort:
    def __init__(self, path: str, baud: int, parity: str = 'E', stopbits: int = 1) -> None:
        self.path = path
        self.baud = baud
        self.parity = parity
        self.stopbits = stopbits
        self._serial = None                # serial.Serial once open
        self._data = bytearray()
        self._arrived: asyncio.Event | None = None

    def _open(self) -> None:
        import serial                      # pyserial: only where a serial bus is configured
        import termios                     # pyserial lets the device's refusal of a setting through as is
        try:
            try:
                self._serial = serial.Serial(self.path, self.baud, bytesize=8, parity=self.parity,
                                             stopbits=self.stopbits, timeout=0, exclusive=True)
            except termios.error as e:
                # A pseudo-terminal (a rig's line, a socat bridge to a serial server) has no parity
                # and Linux refuses a setting it can apply none of (EINVAL), as on every open
                # after the first; the bytes pass the same without it.
                if e.args[:1] != (errno.EINVAL,) or self.parity == 'N' or not _is_pty(self.path):
                    raise
                self._serial = serial.Serial(self.path, self.baud, bytesize=8, parity='N',
                                             stopbits=self.stopbits, timeout=0, exclusive=True)
        except termios.error as e:
            raise PortError('cannot set %s to %d baud 8%s%d: the device refuses (%s); check baud and parity'
                            % (self.path, self.baud, self.parity, self.stopbits, e.args[-1] if e.args else e))
        except (serial.SerialException, OSError, ValueError) as e:
            raise PortError('cannot open %s: %s' % (self.path, e))
        os.set_blocking(self._serial.fileno(), False)
        self._arrived = asyncio.Event()
        asyncio.get_running_loop().add_reader(self._serial.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            chunk = os.read(self._serial.fileno(), 4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b''
        if not chunk:                      # the device went away (pty closed, USB adapter unplugged)
            self.close()
            return
        self._data += chunk
        self._arrived.set()

    def close(self) -> None:
        if self._serial is not None:
            try:
                asyncio.get_running_loop().remove_reader(self._serial.fileno())
            except (RuntimeError, ValueError):
                pass
            self._serial.close()
            self._serial = None
        if self._arrived is not None:
            self._arrived.set()

    async def _write(self, data: bytes) -> None:
        fd = self._serial.fileno()
        view = memoryview(data)
        while view:
            try:
                n = os.write(fd, view)
                view = view[n:]
            except BlockingIOError:
                await asyncio.sleep(0.001)
            except OSError as e:
                self.close()
                raise PortError('%s: write failed: %s' % (self.path, e))

    async def exchange(self, request: bytes, reply, timeout_s: float, expect_reply: bool = True):
        if self._serial is None:
            self._open()
        self._data.clear()
        self._arrived.clear()
        await self._write(request)
        if not expect_reply:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            if self._data:
                chunk = bytes(self._data)
                self._data.clear()
                result = reply.feed(chunk)
                if result is not None:
                    return result
            if self._serial is None:
                raise PortError('%s closed' % self.path)
            left = deadline - loop.time()
            if left <= 0:
                raise asyncio.TimeoutError()
            self._arrived.clear()
            try:
                await wait_for(self._arrived.wait(), left)
            except asyncio.TimeoutError:
                pass


class TcpPort:
    def __init__(self, host: str, port: int, connect_timeout_s: float = 3.0) -> None:
        self.host = host
        self.port = port
        self.connect_timeout_s = connect_timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        try:
            self._reader, self._writer = await wait_for(
                asyncio.open_connection(self.host, self.port), self.connect_timeout_s)
        except (OSError, asyncio.TimeoutError) as e:
            raise PortError('cannot connect to %s:%d: %s' % (self.host, self.port, e or 'timeout'))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def exchange(self, request: bytes, reply, timeout_s: float, expect_reply: bool = True):
        # a late answer to an earlier request is skipped by the reply collector (Modbus TCP
        # transaction ids, DL/T 645 data identifiers), so nothing is drained here
        if self._writer is None:
            await self._connect()
        loop = asyncio.get_running_loop()
        try:
            self._writer.write(request)
            await self._writer.drain()
        except OSError as e:
            self.close()
            raise PortError('%s:%d: %s' % (self.host, self.port, e))
        if not expect_reply:
            return None
        deadline = loop.time() + timeout_s
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise asyncio.TimeoutError()
            try:
                chunk = await wait_for(self._reader.read(4096), left)
            except OSError as e:
                self.close()
                raise PortError('%s:%d: %s' % (self.host, self.port, e))
            if not chunk:
                self.close()
                raise PortError('%s:%d closed the connection' % (self.host, self.port))
            result = reply.feed(chunk)
            if result is not None:
                return result
