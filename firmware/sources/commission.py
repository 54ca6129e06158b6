"""Commissioning helpers run by a technician at the gateway (CPython)."""

from __future__ import annotations

import asyncio

from firmware.drivers import dlt645
from firmware.drivers.errors import MeterError
from firmware.ports import PortError, SerialPort


async def read_dlt645_address(path: str, baud: int = 2400, parity: str = 'E', timeout_s: float = 2.0) -> str:
    """The address of the one DL/T 645-2007 meter on a line (read address, control 13 to AA..AA).
    With several meters on the line their answers collide: connect one meter at a time."""
    port = SerialPort(path, baud, parity)
    try:
        return await port.exchange(dlt645.build_read_address(), dlt645.AddressReply(), timeout_s)
    except asyncio.TimeoutError:
        raise PortError('no meter answered the read-address request on %s (wiring, baud %d, parity %s?)'
                        % (path, baud, parity))
    except MeterError as e:
        raise PortError('the answer on %s was unusable: %s (several meters on the line?)' % (path, e.reason))
    finally:
        port.close()
