"""What a polled meter protocol tells the rest of the gateway about itself, in one
place: the settings of a bus, a meter and a point of that protocol (name, kind,
default, allowed values, help text in Chinese and English), how a meter is built
from its settings, how a point's item is read from its settings, and whether the
bus has a broadcast time sync.  The configuration loader
(firmware/sources/config.py) and the gateway's configuration page render and
check settings from these descriptions alone; the registry of protocols is
firmware/drivers/registry.py.  Portable (no re, no dataclasses).
"""

REQUIRED = object()        # a Field default: the setting must be given

KINDS = ('text', 'int', 'number', 'choice', 'digits', 'hex', 'decimal', 'pair', 'table', 'period', 'bool', 'list')
PERIODS = {'minute': 60, 'hour': 3600}       # seed 001 §11.2: the minute and hour levels


def _digits(text, alphabet):
    for ch in text:
        if ch not in alphabet:
            return False
    return True


class Field:
    """One setting.  kind: text | int | number | choice | digits (a fixed number of
    decimal digits, kept as text) | hex (hex digits of one of `lengths`, read as an
    int) | decimal (exact decimal text, kept as given) | pair (two decimals) | table
    (a sub-table of `fields`) | period ("minute", "hour" or a number of seconds) | bool |
    list (of text)."""

    def __init__(self, name, kind, default=REQUIRED, help=None, choices=None, low=None, high=None,
                 lengths=None, fields=None, error=None, unit=None):
        if kind not in KINDS:
            raise ValueError('field %s: kind %r is not one of %s' % (name, kind, ', '.join(KINDS)))
        self.name = name
        self.kind = kind
        self.default = default
        self.help = help or {}          # {'zh': '标签：说明', 'en': 'label: detail'}; the page's label is the part before the colon
        self.choices = choices
        self.low = low
        self.high = high
        self.lengths = lengths
        self.fields = fields
        self.error = error              # the sentence a wrong value gets, when the generic one would not help
        self.unit = unit                # of a number: ms, s, h ...

    @property
    def required(self):
        return self.default is REQUIRED

    def _wrong(self, what):
        return ValueError(self.error or '%s %s' % (self.name, what))

    def parse(self, value):
        """The checked value of this setting; ValueError naming the setting otherwise."""
        kind = self.kind
        if kind == 'table':
            if not isinstance(value, dict):
                raise self._wrong('must be a table {%s}' % ', '.join(f.name for f in self.fields))
            return value
        if kind in ('int', 'number'):
            ok = isinstance(value, int) if kind == 'int' else isinstance(value, (int, float))
            if not ok or isinstance(value, bool) or (self.low is not None and value < self.low) or \
                    (self.high is not None and value > self.high):
                raise self._wrong('must be a%s number in %s..%s, not %r' % (
                    'n integer' if kind == 'int' else '', '' if self.low is None else self.low,
                    '' if self.high is None else self.high, value))
            return value
        if kind == 'period':
            if value in PERIODS:
                return value
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise self._wrong('must be "minute", "hour" or a number of seconds > 0, not %r' % (value,))
            return value
        if kind == 'bool':
            if not isinstance(value, bool):
                raise self._wrong('must be true or false, not %r' % (value,))
            return value
        if kind == 'list':
            if not isinstance(value, list) or not value:
                raise self._wrong('must be a list of text')
            for item in value:
                if not isinstance(item, str) or not item:
                    raise self._wrong('must be a list of text, not %r' % (item,))
            return value
        if kind == 'choice':
            if value not in self.choices:
                raise self._wrong('must be one of %s, not %r' % (', '.join(str(c) for c in self.choices), value))
            return value
        if kind == 'pair':
            if not isinstance(value, list) or len(value) != 2:
                raise self._wrong('must be [low, high]')
            return value
        if kind == 'decimal':
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise self._wrong('must be a decimal number, not %r' % (value,))
            return str(value)
        if not isinstance(value, str) or not value:
            raise self._wrong('is required (text)')
        if kind == 'digits':
            if len(value) not in self.lengths or not _digits(value, '0123456789'):
                raise self._wrong('must be %s decimal digits' % ' or '.join(str(n) for n in self.lengths))
        elif kind == 'hex':
            if len(value) not in self.lengths or not _digits(value, '0123456789abcdefABCDEF'):
                raise self._wrong('must be %s hex digits' % ' or '.join(str(n) for n in self.lengths))
            return int(value, 16)
        return value

    def value(self, doc):
        """The checked setting of a table, its default when absent; ValueError otherwise."""
        if self.name not in doc:
            if self.required:
                raise self._wrong('is required')
            return self.default
        return self.parse(doc[self.name])

    def describe(self):
        """The field as data, for a form."""
        out = {'name': self.name, 'kind': self.kind, 'required': self.required, 'help': self.help}
        if not self.required:
            out['default'] = self.default
        for key in ('choices', 'low', 'high', 'lengths', 'unit'):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.fields:
            out['fields'] = [f.describe() for f in self.fields]
        return out


def _help(zh, en):
    return {'zh': zh, 'en': en}


# -- settings every polled bus has, by transport -------------------------------------------------

def serial_fields(baud, parity):
    """A serial line's settings with the protocol's usual baud rate and parity."""
    return [
        Field('port', 'text', help=_help('串口设备路径，或板卡定义的串口名（如 RS485-1）',
                                        'serial device path, or a serial port name of the board (e.g. RS485-1)')),
        Field('baud', 'int', baud, _help('波特率', 'baud rate'), low=300, high=921600),
        Field('parity', 'choice', parity, _help('校验位：N 无，E 偶，O 奇', 'parity: N none, E even, O odd'),
              choices=('N', 'E', 'O'), error='parity must be N, E or O'),
        Field('stopbits', 'int', 1, _help('停止位', 'stop bits'), low=1, high=2),
    ]


def tcp_fields(port=502):
    return [
        Field('host', 'text', help=_help('设备的 IP 地址或主机名', 'IP address or host name of the device')),
        Field('tcp_port', 'int', port, _help('TCP 端口', 'TCP port'), low=1, high=65535),
    ]


def timing_fields(gap_ms):
    """Timeouts, retries and the silence before each request, with the protocol's usual gap."""
    return [
        Field('timeout_ms', 'number', 1000, _help('等待应答的时间', 'how long to wait for a reply'),
              low=10, high=60000, unit='ms'),
        Field('retries', 'int', 2, _help('无应答时重试次数', 'retries when a meter does not answer'), low=0, high=10),
        Field('gap_ms', 'number', gap_ms, _help('每次请求前的总线静默时间', 'bus silence before each request'),
              low=0, high=10000, unit='ms'),
        Field('degrade_after', 'int', 3, _help('连续失败多少次后降低轮询频率',
                                               'consecutive failures before a meter is polled less often'),
              low=1, high=1000),
        Field('probe_s', 'number', 60, _help('降级仪表的首次探测间隔', 'first probe interval of a degraded meter'),
              low=0.01, unit='s'),
        Field('probe_max_s', 'number', 600, _help('降级仪表的最长探测间隔', 'longest probe interval of a degraded meter'),
              low=0.01, unit='s'),
    ]


class Protocol:
    """A polled meter protocol as the gateway sees it.

    make_meter(settings) -> the meter (with transactions(points), check_point(point) and a
    label naming it on its bus, e.g. 'address 000000000001', 'unit id 7');
    point_item(settings) -> the protocol's name for a point's data item;
    time_sync(year, month, day, hour, minute, second) -> broadcast request bytes, or None.
    Both builders raise ValueError with a sentence naming the setting."""

    def __init__(self, name, title, transport, bus_fields, meter_fields, point_fields, make_meter, point_item,
                 time_sync=None, simulator=None):
        if transport not in ('serial', 'tcp'):
            raise ValueError('transport must be serial or tcp')
        self.name = name
        self.title = title                      # {'zh': ..., 'en': ...}
        self.transport = transport
        self.bus_fields = bus_fields
        self.meter_fields = meter_fields
        self.point_fields = point_fields
        self.make_meter = make_meter
        self.point_item = point_item
        self.time_sync = time_sync
        self.simulator = simulator              # module in hardware/ that simulates its meters (rigs)

    def describe(self):
        return {'protocol': self.name, 'title': self.title, 'transport': self.transport,
                'bus': [f.describe() for f in self.bus_fields],
                'meter': [f.describe() for f in self.meter_fields],
                'point': [f.describe() for f in self.point_fields]}
