"""The instrument ledger and calibration (seed 001 §11.1, §11.10; seed 004 §7.1–§7.2): every
carbon-metering instrument with its number, enterprise, category, level, required and
fitted counts, accuracy class, calibration basis, interval and due date; calibrations
with their result and certificate; the fitting rate and the rate of instruments in
qualified use; the lists "due this month", "due next month", "in calibration" and
"overdue"; table import and export (CSV, XLSX).  An instrument bound to a gateway meter
that is past its due date flags that meter's readings `calibration` (the gateway asks
overdue_meters()).  Kept in DATA_DIR/ledger/ (ledger.db and certificates/)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import threading
import time
from dataclasses import dataclass

from shared import civil

CATEGORIES = ('electricity', 'water', 'gas', 'heat', 'flow', 'weighing', 'analyser', 'other')
LEVELS = ('1', '2', '3')             # GB 17167: the enterprise, its secondary units, its equipment
STATES = ('in_use', 'in_calibration', 'retired')
RESULTS = ('pass', 'fail')
MAX_CERTIFICATE_BYTES = 10 * 1024 * 1024
CERTIFICATE_TYPES = {'.pdf': 'application/pdf', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png'}


@dataclass(frozen=True)
class Column:
    name: str
    zh: str
    en: str
    kind: str = 'text'               # text | int | date | choice
    required: bool = False
    choices: tuple = ()


COLUMNS = (
    Column('number', '计量器具编号', 'Instrument number', required=True),
    Column('name', '器具名称', 'Name', required=True),
    Column('enterprise', '企业名称', 'Enterprise', required=True),
    Column('enterprise_kind', '企业类别', 'Kind of enterprise'),
    Column('region', '所属区域', 'Region'),
    Column('industry', '所属行业', 'Industry'),
    Column('level', '计量器具层级', 'Level', 'choice', True, LEVELS),
    Column('category', '计量器具类别', 'Category', 'choice', True, CATEGORIES),
    Column('location', '安装位置', 'Location'),
    Column('model', '型号规格', 'Model'),
    Column('serial', '出厂编号', 'Serial number'),
    Column('accuracy_class', '准确度等级', 'Accuracy class', required=True),
    Column('meter', '网关仪表', 'Gateway meter'),
    Column('required_count', '应配数量', 'Required', 'int', True),
    Column('fitted_count', '实配数量', 'Fitted', 'int', True),
    Column('basis', '检定/校准依据', 'Calibration basis', required=True),
    Column('interval_months', '检定周期（月）', 'Interval (months)', 'int', True),
    Column('last_calibrated', '上次检定日期', 'Last calibrated', 'date'),
    Column('state', '状态', 'State', 'choice', True, STATES),
    Column('notes', '备注', 'Notes'),
)
BY_NAME = {c.name: c for c in COLUMNS}
BY_HEADER = {**{c.name: c for c in COLUMNS}, **{c.zh: c for c in COLUMNS}, **{c.en.lower(): c for c in COLUMNS}}
NUMBER = re.compile(r'[A-Za-z0-9_.-]{1,40}')

SCHEMA = '''
CREATE TABLE IF NOT EXISTS instruments (number TEXT PRIMARY KEY, doc TEXT NOT NULL, updated_at REAL NOT NULL,
                                        updated_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS calibrations (id INTEGER PRIMARY KEY, number TEXT NOT NULL, date TEXT NOT NULL,
    result TEXT NOT NULL, certificate_no TEXT NOT NULL, basis TEXT NOT NULL, file TEXT, recorded_at REAL NOT NULL,
    recorded_by TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS calibrations_number ON calibrations (number, date);
'''


class LedgerError(ValueError):
    """A value that will not do: the column (or 'form', or 'row N') and a sentence."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__('%s: %s' % (field, message))
        self.field = field
        self.message = message


def add_months(day: str, months: int) -> str:
    y, m, d = int(day[:4]), int(day[5:7]), int(day[8:10])
    m0 = m - 1 + months
    y, m = y + m0 // 12, m0 % 12 + 1
    last = (civil.days_from_civil(y + (m == 12), m % 12 + 1, 1) - civil.days_from_civil(y, m, 1))
    return '%04d-%02d-%02d' % (y, m, min(d, last))


def _date(text: str, field: str) -> str:
    m = re.fullmatch(r'(\d{4})-(\d{2})-(\d{2})', text)
    if m is None or not 1 <= int(m.group(2)) <= 12 or not 1 <= int(m.group(3)) <= 31:
        raise LedgerError(field, 'must be a date YYYY-MM-DD, not %r' % text)
    y, mo, d = (int(g) for g in m.groups())
    if civil.civil_from_days(civil.days_from_civil(y, mo, d)) != (y, mo, d):
        raise LedgerError(field, '%s is not a day of the calendar' % text)
    return text


def check(values: dict) -> dict:
    """An instrument's values, checked and typed; LedgerError naming the column otherwise."""
    doc: dict = {}
    for c in COLUMNS:
        raw = values.get(c.name)
        text = '' if raw is None else str(raw).strip()
        if not text:
            if c.required:
                raise LedgerError(c.name, 'is required')
            continue
        if c.kind == 'int':
            try:
                value = int(float(text)) if re.fullmatch(r'\d+(\.0+)?', text) else int(text)
            except ValueError:
                raise LedgerError(c.name, 'must be a whole number, not %r' % text)
            if value < 0 or (c.name == 'interval_months' and not 1 <= value <= 120):
                raise LedgerError(c.name, 'must be %s, not %d' % ('1..120 months' if c.name == 'interval_months'
                                                                   else 'zero or more', value))
            doc[c.name] = value
        elif c.kind == 'date':
            doc[c.name] = _date(text[:10], c.name)
        elif c.kind == 'choice':
            if text not in c.choices:
                raise LedgerError(c.name, 'must be one of %s, not %r' % (', '.join(c.choices), text))
            doc[c.name] = text
        else:
            doc[c.name] = text[:200]
    if not NUMBER.fullmatch(doc['number']):
        raise LedgerError('number', 'use letters, digits and . _ - (at most 40)')
    if doc['fitted_count'] > 0 and doc['required_count'] == 0:
        raise LedgerError('required_count', 'an instrument fitted where none is required: give the required count')
    return doc


class Ledger:
    def __init__(self, data_dir: str, clock=time.time, utc_offset_s: int = 8 * 3600) -> None:   # type: ignore[no-untyped-def]
        self.dir = os.path.join(data_dir, 'ledger')
        self.certificates = os.path.join(self.dir, 'certificates')
        os.makedirs(self.certificates, mode=0o700, exist_ok=True)
        self.db = sqlite3.connect(os.path.join(self.dir, 'ledger.db'), isolation_level=None, check_same_thread=False)
        self.db.execute('PRAGMA journal_mode=WAL')
        self.db.executescript(SCHEMA)
        self.lock = threading.RLock()
        self.clock = clock
        self.utc_offset_s = utc_offset_s

    def today(self) -> str:
        return civil.local_iso(int(self.clock() * 1000), self.utc_offset_s)[:10]

    # -- instruments -------------------------------------------------------------------------
    def put(self, values: dict, who: str, replacing: str | None = None) -> dict:
        doc = check(values)
        with self.lock:
            exists = self.db.execute('SELECT 1 FROM instruments WHERE number = ?', (doc['number'],)).fetchone()
            if exists and doc['number'] != replacing:
                raise LedgerError('number', 'instrument %s is in the ledger already' % doc['number'])
            if replacing is not None and replacing != doc['number']:
                self.db.execute('UPDATE calibrations SET number = ? WHERE number = ?', (doc['number'], replacing))
                self.db.execute('DELETE FROM instruments WHERE number = ?', (replacing,))
            self.db.execute('INSERT OR REPLACE INTO instruments (number, doc, updated_at, updated_by) VALUES '
                            '(?, ?, ?, ?)', (doc['number'], json.dumps(doc, ensure_ascii=False), self.clock(), who))
        return doc

    def get(self, number: str) -> dict | None:
        with self.lock:
            row = self.db.execute('SELECT doc FROM instruments WHERE number = ?', (number,)).fetchone()
        return self._shown(json.loads(row[0])) if row else None

    def _latest_calibration(self, number: str) -> dict | None:
        with self.lock:
            row = self.db.execute('SELECT date, result, certificate_no FROM calibrations WHERE number = ? ORDER BY '
                                  'date DESC, id DESC LIMIT 1', (number,)).fetchone()
        return {'date': row[0], 'result': row[1], 'certificate_no': row[2]} if row else None

    def _shown(self, doc: dict) -> dict:
        """The instrument with what follows from it: its due date, whether it is overdue, its
        latest calibration, whether it is in qualified use."""
        out = dict(doc)
        out['due'] = add_months(doc['last_calibrated'], doc['interval_months']) if doc.get('last_calibrated') else None
        today = self.today()
        out['overdue'] = doc['state'] == 'in_use' and (out['due'] is None or out['due'] < today)
        latest = self._latest_calibration(doc['number'])
        out['latest'] = latest
        out['qualified'] = doc['state'] == 'in_use' and not out['overdue'] and (latest is None or
                                                                                latest['result'] == 'pass')
        return out

    def all(self, filters: dict | None = None) -> list[dict]:
        """Instruments matching the filters (enterprise, region, industry, level, text), by number."""
        with self.lock:
            rows = self.db.execute('SELECT doc FROM instruments ORDER BY number').fetchall()
        out = []
        for (text,) in rows:
            doc = json.loads(text)
            if all(not v or doc.get(k, '') == v for k, v in (filters or {}).items() if k != 'text') and (
                    not (filters or {}).get('text') or filters['text'].lower() in text.lower()):
                out.append(self._shown(doc))
        return out

    def lists(self, instruments: list[dict]) -> dict[str, list[dict]]:
        """seed 001 §11.10: due this month, due next month, in calibration, and overdue."""
        today = self.today()
        this_month = today[:7]
        next_month = add_months(today[:8] + '01', 1)[:7]
        return {
            'overdue': [i for i in instruments if i['overdue']],
            'due_this_month': [i for i in instruments if i['state'] == 'in_use' and i['due']
                               and i['due'][:7] == this_month and i['due'] >= today],
            'due_next_month': [i for i in instruments if i['state'] == 'in_use' and i['due']
                               and i['due'][:7] == next_month],
            'in_calibration': [i for i in instruments if i['state'] == 'in_calibration'],
        }

    @staticmethod
    def rates(instruments: list[dict]) -> list[dict]:
        """Per level and in all: the fitting rate (fitted / required, seed 001 §11.1 配备率) and
        the rate of instruments in qualified use (合格使用率)."""
        out = []
        for level in LEVELS + (None,):
            group = [i for i in instruments if level is None or i['level'] == level]
            required = sum(i['required_count'] for i in group)
            fitted = sum(min(i['fitted_count'], i['required_count']) for i in group)
            in_use = [i for i in group if i['state'] == 'in_use']
            qualified = sum(1 for i in in_use if i['qualified'])
            out.append({'level': level, 'instruments': len(group), 'required': required, 'fitted': fitted,
                        'fitting_rate': fitted / required if required else None,
                        'in_use': len(in_use), 'qualified': qualified,
                        'qualified_rate': qualified / len(in_use) if in_use else None})
        return out

    # -- calibrations -----------------------------------------------------------------------
    def calibrate(self, number: str, date: str, result: str, certificate_no: str, basis: str, who: str,
                  certificate: tuple[str, bytes] | None = None) -> dict:
        """A calibration with its result and certificate (a PDF or a picture): the instrument's
        last calibration date becomes `date` and it is in use again."""
        doc = self.get(number)
        if doc is None:
            raise LedgerError('number', 'no instrument %s' % number)
        date = _date(date.strip(), 'date')
        if date > self.today():
            raise LedgerError('date', 'a calibration cannot be in the future (%s)' % date)
        if result not in RESULTS:
            raise LedgerError('result', 'must be pass or fail')
        if not certificate_no.strip():
            raise LedgerError('certificate_no', 'is required')
        stored = None
        if certificate is not None and certificate[1]:
            name, data = certificate
            ext = os.path.splitext(name.lower())[1]
            if ext not in CERTIFICATE_TYPES:
                raise LedgerError('certificate', 'a certificate is a PDF, JPEG or PNG file, not %r' % name)
            if len(data) > MAX_CERTIFICATE_BYTES:
                raise LedgerError('certificate', 'larger than %d MB' % (MAX_CERTIFICATE_BYTES // 2 ** 20))
            stored = '%s-%s-%d%s' % (re.sub(r'[^A-Za-z0-9_.-]', '_', number), date, int(self.clock() * 1000), ext)
            from firmware.lib.durable import fsync
            with open(os.path.join(self.certificates, stored), 'wb') as f:
                f.write(data)
                fsync(f)
        with self.lock:
            self.db.execute('INSERT INTO calibrations (number, date, result, certificate_no, basis, file, recorded_at, '
                            'recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
                            (number, date, result, certificate_no.strip()[:80], basis.strip()[:200] or doc['basis'],
                             stored, self.clock(), who))
        values = {k: doc.get(k) for k in BY_NAME}
        if doc.get('last_calibrated') is None or date >= doc['last_calibrated']:
            values['last_calibrated'] = date
        values['state'] = 'in_use' if result == 'pass' else doc['state']
        return self.put(values, who, number)

    def calibrations(self, number: str) -> list[dict]:
        with self.lock:
            rows = self.db.execute('SELECT id, date, result, certificate_no, basis, file, recorded_by FROM calibrations '
                                   'WHERE number = ? ORDER BY date DESC, id DESC', (number,)).fetchall()
        return [dict(zip(('id', 'date', 'result', 'certificate_no', 'basis', 'file', 'recorded_by'), r)) for r in rows]

    def certificate(self, number: str, calibration_id: int) -> tuple[str, bytes] | None:
        with self.lock:
            row = self.db.execute('SELECT file FROM calibrations WHERE number = ? AND id = ?',
                                  (number, calibration_id)).fetchone()
        if row is None or not row[0]:
            return None
        with open(os.path.join(self.certificates, row[0]), 'rb') as f:
            return row[0], f.read()

    def overdue_meters(self) -> dict[str, str]:
        """Gateway meter name -> the overdue instrument bound to it."""
        return {i['meter']: i['number'] for i in self.all() if i.get('meter') and i['overdue']}

    # -- tables ----------------------------------------------------------------------------
    def export_rows(self, instruments: list[dict]) -> list[list]:
        rows = [[c.name for c in COLUMNS] + ['due']]
        for i in instruments:
            rows.append([i.get(c.name, '') if i.get(c.name) is not None else '' for c in COLUMNS] + [i['due'] or ''])
        return rows

    def export_csv(self, instruments: list[dict]) -> bytes:
        out = io.StringIO()
        csv.writer(out).writerows(self.export_rows(instruments))
        return ('\ufeff' + out.getvalue()).encode('utf-8')          # a BOM: spreadsheet programs read it as UTF-8

    def export_xlsx(self, instruments: list[dict]) -> bytes:
        from openpyxl import Workbook
        book = Workbook()
        sheet = book.active
        sheet.title = 'ledger'
        rows = self.export_rows(instruments)
        sheet.append([BY_NAME[n].zh if n in BY_NAME else '下次到期' for n in rows[0]])
        for row in rows[1:]:
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()

    def import_rows(self, rows: list[list], who: str) -> int:
        """Put every row of a table (a header of column names or their Chinese or English
        labels, then one instrument a row), all or nothing: LedgerError naming the row and
        the column of the first mistake."""
        if not rows:
            raise LedgerError('file', 'the table is empty')
        header = [BY_HEADER.get(str(h or '').strip()) or BY_HEADER.get(str(h or '').strip().lower()) for h in rows[0]]
        if not any(header) or 'number' not in {c.name for c in header if c}:
            raise LedgerError('file', 'the first row must name the columns (number, name, ... or 计量器具编号, ...)')
        docs = []
        seen = set()
        for n, row in enumerate(rows[1:], start=2):
            if not any(str(v or '').strip() for v in row):
                continue
            values = {c.name: _cell(v) for c, v in zip(header, row) if c is not None}
            try:
                doc = check(values)
            except LedgerError as e:
                raise LedgerError('file', 'row %d, %s: %s' % (n, e.field, e.message))
            if doc['number'] in seen:
                raise LedgerError('file', 'row %d: instrument %s appears twice' % (n, doc['number']))
            seen.add(doc['number'])
            docs.append(doc)
        with self.lock:
            self.db.execute('BEGIN')
            try:
                for doc in docs:
                    self.db.execute('INSERT OR REPLACE INTO instruments (number, doc, updated_at, updated_by) VALUES '
                                    '(?, ?, ?, ?)', (doc['number'], json.dumps(doc, ensure_ascii=False), self.clock(),
                                                     who))
                self.db.execute('COMMIT')
            except Exception:
                self.db.execute('ROLLBACK')
                raise
        return len(docs)

    def import_file(self, name: str, data: bytes, who: str) -> int:
        if name.lower().endswith('.xlsx'):
            from openpyxl import load_workbook
            try:
                book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            except Exception as e:              # openpyxl raises many kinds for a file that is not a workbook
                raise LedgerError('file', '%s is not an XLSX workbook (%s)' % (name, type(e).__name__))
            rows = [list(r) for r in book.active.iter_rows(values_only=True)]
        elif name.lower().endswith('.csv'):
            try:
                text = data.decode('utf-8-sig')
            except UnicodeDecodeError:
                text = data.decode('gb18030', 'replace')                # a table saved by a Chinese spreadsheet
            rows = list(csv.reader(io.StringIO(text)))
        else:
            raise LedgerError('file', 'import a .csv or .xlsx table, not %r' % name)
        return self.import_rows(rows, who)


def _cell(value: object) -> str:
    if value is None:
        return ''
    if hasattr(value, 'strftime'):                      # openpyxl gives dates as datetime
        return value.strftime('%Y-%m-%d')
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class CalibrationWatch:
    """Which codes' readings are flagged `calibration`: those of the points of a gateway meter
    whose instrument is past its due date.  One ALARM line when an instrument falls due, one
    RECOVERED line when it is calibrated (or unbound)."""

    def __init__(self, ledger: Ledger, gateway) -> None:   # type: ignore[no-untyped-def]
        self.ledger = ledger
        self.gateway = gateway
        self.overdue: dict[str, str] = {}          # meter -> instrument number
        self.codes: frozenset[int] = frozenset()

    def refresh(self) -> None:
        import logging
        log = logging.getLogger('tanji.ledger')
        overdue = self.ledger.overdue_meters()
        sources = self.gateway.sources
        points = {meter: [int(p.code) for p in pts.values()] for b in (sources.buses if sources else ())
                  for meter, pts in b.points.items()}
        for meter, number in sorted(overdue.items()):
            if meter not in self.overdue:
                log.warning('ALARM instrument %s (meter %s) is past its calibration due date: its %d point(s) are '
                            'flagged calibration until it is calibrated', number, meter, len(points.get(meter, [])))
        for meter, number in sorted(self.overdue.items()):
            if meter not in overdue:
                log.warning('RECOVERED instrument %s (meter %s) is within its calibration period again', number, meter)
        self.overdue = overdue
        self.codes = frozenset(code for meter in overdue for code in points.get(meter, []))
        self.gateway.calibration_overdue = self.codes
