"""The page's copy of the gateway's log (firmware/logbook.py): kinds, levels, text,
multi-line messages, newest first, across rotated files, and a full disk that skips lines
with one alarm instead of a traceback per line."""

import logging

from firmware import logbook


def test_lines_are_read_back_filtered_and_newest_first(tmp_path):
    logs = tmp_path / 'logs'
    logs.mkdir()
    (logs / 'gateway.log.1').write_text(
        '2026-12-01 10:00:00,001 INFO tanji.bus: bus rs485-1 up\n'
        '2026-12-01 10:00:01,002 WARNING tanji.gateway: ALARM centre platform: timeout; retrying\n')
    (logs / 'gateway.log').write_text(
        '2026-12-01 10:00:02,003 ERROR tanji.gateway: ALARM the log cannot be written: No space left\n'
        'Traceback (most recent call last):\n  File "x"\n'
        '2026-12-01 10:00:03,004 INFO tanji.web: local page on http://127.0.0.1:8480/\n'
        '2026-12-01 10:00:04,005 WARNING tanji.config: configuration version 3 waits for a restart (centre changed)\n'
        '2026-12-01 10:00:05,006 INFO tanji.accounting: live accounting: scenario x, factor library 2026.1\n')
    everything = logbook.read(str(tmp_path))
    assert [e['kind'] for e in everything] == ['accounting', 'configuration', 'page', 'storage', 'upload',
                                               'acquisition']
    assert everything[3]['message'].endswith('Traceback (most recent call last):\n  File "x"')
    assert [e['kind'] for e in logbook.read(str(tmp_path), level='WARNING')] == ['configuration', 'storage', 'upload']
    assert [e['at'] for e in logbook.read(str(tmp_path), kind='upload')] == ['2026-12-01 10:00:01']
    assert len(logbook.read(str(tmp_path), text='RS485')) == 1
    assert len(logbook.read(str(tmp_path), limit=2)) == 2


def test_a_line_that_cannot_be_written_is_one_alarm_not_a_traceback(tmp_path, capsys):
    path = logbook.install(str(tmp_path))
    handler = logging.getLogger().handlers[-1]
    try:
        log = logging.getLogger('tanji.gateway')
        log.warning('first')
        handler.close()
        handler.baseFilename = str(tmp_path / 'logs' / 'missing' / 'gateway.log')   # cannot be opened
        log.warning('second')
        log.warning('third')
        err = capsys.readouterr().err
        assert err.count('ALARM the page') == 1 and 'Traceback' not in err, err
        handler.baseFilename = path
        log.warning('fourth')
        assert 'written again' in capsys.readouterr().err
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    assert [e['message'] for e in logbook.read(str(tmp_path))] == ['fourth', 'first']
