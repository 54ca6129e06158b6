"""Every polled meter protocol the gateway speaks, by name (firmware/drivers/descriptor.py).
A new protocol is its driver file, its simulator, its docs section and one line here."""

from firmware.drivers import cjt188, dlt645, modbus

PROTOCOLS = {p.name: p for p in (
    dlt645.DLT645_2007,
    dlt645.DLT645_1997,
    cjt188.PROTOCOL,
    modbus.RTU,
    modbus.TCP,
)}
