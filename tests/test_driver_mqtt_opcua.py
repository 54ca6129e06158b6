"""MQTT collectors through a real mosquitto, and OPC UA servers through asyncua."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from firmware.drivers import mqtt
from firmware.lib.intake import Intake
from firmware.sources.config import MqttConfig, OpcuaConfig, OpcuaNode
from firmware.sources.mqtt import MqttSource
from hardware.profiles import Profile
from hardware.sim_mqtt import SimCollector
from shared.codec import mp
from tests.acquisition_helpers import ListSink, clock, run_for

E1, E2 = 80420101001, 80420101002


async def _publish(port: int, topic: str, payloads: list[bytes], retain: bool = False) -> None:
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    writer.write(mqtt.connect('tanji-test-publisher', 30, clean=True))
    for i, p in enumerate(payloads):
        writer.write(mqtt.publish(topic, p, qos=1, packet_id=i + 1, retain=retain))
    await writer.drain()
    parser = mqtt.Parser()
    acks = 0
    while acks < len(payloads):
        acks += sum(1 for p in parser.feed(await reader.read(4096)) if p.type == mqtt.PUBACK)
    writer.close()


async def test_collector_readings_json_and_msgpack(mosquitto, tmp_path):
    t0 = time.time()
    profiles = [Profile(rate=50.0, start=100.0, t0=t0), Profile(rate=5.0, start=7.0, t0=t0)]
    sink = ListSink()
    source = MqttSource(MqttConfig('127.0.0.1', mosquitto.port, ['plant/+/readings'], 'gw-test'), sink,
                        str(tmp_path / 'refused'))
    task = asyncio.create_task(source.run())
    await asyncio.wait_for(source.connected.wait(), 5)
    json_collector = SimCollector('127.0.0.1', mosquitto.port, 'plant/a/readings',
                                  [('080420101001', 'kWh', profiles[0])], every_s=0.5, clock=time.time)
    mp_collector = SimCollector('127.0.0.1', mosquitto.port, 'plant/b/readings',
                                [('080420101002', 'kWh', profiles[1])], every_s=0.5, encoding='msgpack',
                                client_id='c2', clock=time.time)

    async def collectors():
        await asyncio.gather(json_collector.run(), mp_collector.run())
    await run_for(collectors, 1.5)
    await asyncio.sleep(0.3)
    task.cancel()
    for code, profile in ((E1, profiles[0]), (E2, profiles[1])):
        got = sink.of(code)
        assert len(got) >= 3
        for r in got:
            # the collector's own time, never the time of arrival
            assert r[1] % 500 == 0 and r[2] == profile.register(r[1] / 1000) and r[3] == -2
    assert json_collector.acked == json_collector.published


async def test_bad_messages_are_refused_kept_and_acknowledged_empty_retained_ignored(mosquitto, tmp_path):
    sink = ListSink()
    source = MqttSource(MqttConfig('127.0.0.1', mosquitto.port, ['plant/#'], 'gw-test'), sink,
                        str(tmp_path / 'refused'))
    task = asyncio.create_task(source.run())
    await asyncio.wait_for(source.connected.wait(), 5)
    good = {'code': '080420101001', 't': 1795000000000, 'v': '12.5', 'unit': 'kWh'}
    await _publish(mosquitto.port, 'plant/x', [
        json.dumps(dict(good, unit='GJ')).encode(),                    # wrong unit for electricity
        json.dumps({'readings': [good, dict(good, t='yesterday')]}).encode(),   # one bad: the whole message refused
        b'\xc1not msgpack',
        b'',                                                            # a cleared retained message
        mp.packb(dict(good, v=None, flags=1)),                          # a missing reading, said so
        json.dumps(good).encode()])
    await asyncio.sleep(0.5)
    task.cancel()
    assert source.stats['refused'] == 3
    assert [(r[2], r[4]) for r in sink.readings] == [(None, 1), (125, 0)]
    kept = sorted(p.name for p in (tmp_path / 'refused').iterdir())
    assert len(kept) == 6 and any('unit' in (tmp_path / 'refused' / k).read_text() for k in kept if k.endswith('.txt'))


class _StuckSink(ListSink):
    async def wait_durable(self, seq: int) -> None:
        await asyncio.Event().wait()           # the log never confirms: no PUBACK may go out


async def test_unacknowledged_message_is_redelivered_after_restart(mosquitto, tmp_path):
    """PUBACK goes out only once the readings are durable; a gateway that died before
    that gets the message again from the broker (persistent session, QoS 1)."""
    cfg = MqttConfig('127.0.0.1', mosquitto.port, ['plant/#'], 'gw-persistent')
    first = MqttSource(cfg, _StuckSink(), str(tmp_path / 'r'))
    task = asyncio.create_task(first.run())
    await asyncio.wait_for(first.connected.wait(), 5)
    await _publish(mosquitto.port, 'plant/x', [json.dumps(
        {'code': '080420101001', 't': 1795000000000, 'v': '99.01', 'unit': 'kWh'}).encode()])
    await asyncio.sleep(0.3)
    task.cancel()
    await asyncio.sleep(0.2)
    sink = ListSink()
    second = MqttSource(cfg, sink, str(tmp_path / 'r'))
    task = asyncio.create_task(second.run())
    await asyncio.sleep(1.0)
    task.cancel()
    assert [(r[2], r[3]) for r in sink.readings] == [(9901, -2)]


async def test_opcua_subscribe_and_read_keep_source_timestamps(unused_tcp_port):
    pytest.importorskip('asyncua')
    from firmware.sources.opcua import OpcuaSource
    from hardware.sim_opcua import SimOpcuaServer
    t0 = time.time()
    coal = Profile(rate=36.0, start=500.0, t0=t0)
    rate = Profile(rate=36.0, amplitude=0.0, t0=t0)
    url = 'opc.tcp://127.0.0.1:%d/tanji/' % unused_tcp_port
    server = SimOpcuaServer(url, [('CoalFeed', 'register', coal), ('CoalRate', 'rate', rate)], update_s=0.25,
                            clock=time.time)
    await server.start()
    sink = ListSink()
    cfg = OpcuaConfig(url, [OpcuaNode(server.node_id('CoalFeed'), 80100102001, 't', 'subscribe', 0.25),
                            OpcuaNode(server.node_id('CoalRate'), 80100103001, 't/h', 'read', 0.5)])
    source = OpcuaSource(cfg, sink, clock(), Intake())
    try:
        await run_for(source.run, 3.0)
    finally:
        await server.stop()
    feed = sink.of(80100102001)
    assert len(feed) >= 3
    for r in feed:
        assert isinstance(r[2], float) and r[4] == 0
        assert abs(r[2] - coal.register(r[1] / 1000) / 100) < 1e-6       # the value at its source time
    polled = sink.of(80100103001)
    assert polled and all(abs(r[2] - 36.0) < 1e-9 for r in polled)
    assert len({r[1] for r in polled}) <= len(polled)
