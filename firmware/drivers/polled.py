"""Meters read by request and reply on a bus (DL/T 645, CJ/T 188, Modbus RTU/TCP):
each turns the points due into transactions (firmware/drivers/transaction.py).
Sans-IO and portable."""

from firmware.drivers import analog, cjt188, dlt645, modbus, registers
from firmware.drivers.errors import MeterError
from firmware.drivers.modbus import ModbusError
from firmware.drivers.transaction import Transaction
from firmware.lib.reading import Reading


class Point:
    """One data item read from a meter.  item: the protocol's name for it (a DL/T 645 DI,
    a CJ/T 188 field, a Modbus register spec)."""

    def __init__(self, key, code, unit, period_s, item, low=None, high=None, register_digits=None,
                 max_rate_per_s=None, meter_unit=None):
        self.key = key
        self.code = code
        self.unit = unit
        self.period_s = period_s
        self.item = item
        self.low = low
        self.high = high
        self.register_digits = register_digits
        self.max_rate_per_s = max_rate_per_s
        self.meter_unit = meter_unit


# -- DL/T 645 -----------------------------------------------------------------------------

class Dlt645Meter:
    def __init__(self, address, version=dlt645.V2007):
        self.address = address
        self.version = version
        items = dlt645.ITEMS_2007 if version == dlt645.V2007 else dlt645.ITEMS_1997
        self.items = items

    def check_point(self, point):
        if point.item not in self.items:
            raise ValueError('data item %X is not one the driver can decode' % point.item)
        return self.items[point.item][3]         # the unit the meter reports

    def transactions(self, points):
        out = []
        for p in points:
            req = dlt645.build_read(self.address, p.item, self.version)
            out.append(Transaction(req, dlt645.ReadReply(self.address, p.item, self.version), [p],
                                   lambda r, p=p: [Reading(p.code, None, r[0], r[1], 0, r[2])]))
        return out


# -- CJ/T 188 -------------------------------------------------------------------------------

class _Cjt188Reply:
    def __init__(self, meter_type, address, ser):
        self.parser = cjt188.Parser()
        self.meter_type = meter_type
        self.address = address
        self.ser = ser

    def feed(self, data):
        for item in self.parser.feed(data):
            if isinstance(item, MeterError):
                raise item
            if not item.control & 0x80:
                continue
            return cjt188.decode_read(item, self.meter_type, self.address, self.ser)
        return None


class Cjt188Meter:
    WATER_GAS_FIELDS = ('current', 'settlement')
    HEAT_FIELDS = ('settlement_heat', 'current_heat', 'power', 'flow_rate', 'cumulative_flow', 'supply_temp',
                   'return_temp', 'hours')

    def __init__(self, meter_type, address, swapped_di=False):
        self.meter_type = meter_type
        self.address = address
        self.swapped_di = swapped_di
        self.ser = 0

    def check_point(self, point):
        fields = self.HEAT_FIELDS if self.meter_type in cjt188.HEAT_TYPES else self.WATER_GAS_FIELDS
        if point.item not in fields:
            raise ValueError('CJ/T 188 field %r: use one of %s' % (point.item, ', '.join(fields)))
        return None                              # the unit comes with each reply

    def transactions(self, points):
        self.ser = (self.ser + 1) & 0xFF
        req = cjt188.build_read(self.meter_type, self.address, ser=self.ser, swapped=self.swapped_di)

        def decode(result):
            return [Reading(p.code, None, result[p.item][0], result[p.item][1], 0, result[p.item][2]) for p in points]
        return [Transaction(req, _Cjt188Reply(self.meter_type, self.address, self.ser), list(points), decode)]


# -- Modbus ---------------------------------------------------------------------------------

FUNCTIONS = {'holding': modbus.READ_HOLDING, 'input': modbus.READ_INPUT}
MAX_BLOCK_GAP = 8          # registers read needlessly to save a transaction


class RegisterItem:
    """Where and how a point lives in a Modbus device."""

    def __init__(self, address, kind='u16', function='holding', word_order='big', byte_order='big',
                 scale='1', offset='0', loop=None, unit=None):
        if function not in FUNCTIONS:
            raise registers.RegisterError('function %r: use holding or input' % function)
        for name, order in (('word_order', word_order), ('byte_order', byte_order)):
            if order not in registers.ORDERS:
                raise registers.RegisterError('%s %r: use big or little' % (name, order))
        if not isinstance(address, int) or not 0 <= address <= 0xFFFF:
            raise registers.RegisterError('register address %r out of 0..65535' % (address,))
        self.address = address
        self.kind = kind
        self.count = registers.width(kind)
        self.function = FUNCTIONS[function]
        self.word_order = word_order
        self.byte_order = byte_order
        self.scaling = registers.Scaling(scale, offset)
        self.loop = analog.Loop(loop[0], loop[1]) if loop else None
        self.unit = unit


def _blocks(points):
    """Group points into contiguous reads of one function, at most 125 registers each."""
    ordered = sorted(points, key=lambda p: (p.item.function, p.item.address))
    blocks = []
    for p in ordered:
        it = p.item
        if blocks:
            fn, start, end, members = blocks[-1]
            if fn == it.function and it.address <= end + MAX_BLOCK_GAP and \
                    max(end, it.address + it.count) - start <= modbus.MAX_READ_REGISTERS:
                blocks[-1] = (fn, start, max(end, it.address + it.count), members + [p])
                continue
        blocks.append((it.function, it.address, it.address + it.count, [p]))
    return blocks


class ModbusDevice:
    def __init__(self, unit_id, tcp=False):
        if not 0 <= unit_id <= 247:
            raise ValueError('unit id %r out of 0..247' % unit_id)
        self.unit_id = unit_id
        self.tcp = tcp
        self.transaction_id = 0

    def check_point(self, point):
        return point.item.unit

    def _decode_block(self, tx, start, members, words):
        out = []
        for p in members:
            it = p.item
            raw = registers.raw_value(words[it.address - start:it.address - start + it.count], it.kind,
                                      it.word_order, it.byte_order)
            value, exp = it.scaling.apply(raw)
            if it.loop is not None:
                if isinstance(value, float):
                    raise ModbusError('a 4-20 mA point needs an integer register', 'format')
                value, exp, flags, reason = it.loop.convert(value, exp)
                if reason:
                    tx.notes[p.code] = reason
                out.append(Reading(p.code, None, value, exp, flags, it.unit))
                continue
            out.append(Reading(p.code, None, value, exp, 0, it.unit))
        return out

    def transactions(self, points):
        out = []
        for fn, start, end, members in _blocks(points):
            pdu = modbus.pdu_read(fn, start, end - start)
            if self.tcp:
                self.transaction_id = (self.transaction_id + 1) & 0xFFFF
                req = modbus.tcp_adu(self.transaction_id, self.unit_id, pdu)
                reply = modbus.TcpReply(self.transaction_id, self.unit_id, fn, end - start)
            else:
                req = modbus.rtu_adu(self.unit_id, pdu)
                reply = modbus.RtuReply(self.unit_id, fn, end - start)
            tx = Transaction(req, reply, members, None)
            tx.decode = lambda words, tx=tx, start=start, members=members: self._decode_block(tx, start, members, words)
            out.append(tx)
        return out
