#Synchronous send
#
# The tutorial's synchronous-send.py, adapted to kafka-chaos's external
# producer protocol v1 (docs/external-producers.md). The harness passes the
# broker, topic, record count, pause, get() timeout and client settings in
# KAFKA_CHAOS_* variables; stdout carries one JSON line per send and per
# outcome; the tutorial's own prints go to stderr (the harness's log file).

import json
import os
import sys
import threading
from time import sleep
from json import dumps
from kafka import KafkaProducer

env = os.environ
topic_name = env['KAFKA_CHAOS_TOPIC']
records = int(env['KAFKA_CHAOS_RECORDS'])
pause = float(env['KAFKA_CHAOS_PAUSE_S'])
timeout = float(env['KAFKA_CHAOS_TIMEOUT_S'])
settings = json.loads(env.get('KAFKA_CHAOS_CLIENT_SETTINGS', '{}'))
lock = threading.Lock()

def event(name, seq=None, **fields):
    """One protocol line, written whole and flushed at once."""
    line = dict(event=name, **fields) if seq is None else dict(event=name, seq=seq, **fields)
    with lock:
        sys.stdout.write(dumps(line) + '\n')
        sys.stdout.flush()

import kafka
event('start', protocol=1, client='kafka-python ' + kafka.__version__)

producer = KafkaProducer(bootstrap_servers=[env['KAFKA_CHAOS_BOOTSTRAP']], value_serializer = lambda x: dumps(x).encode('utf-8'), **settings)

for e in range (records):
    data = {'number': e, 'id': '{}/{}'.format(topic_name, e)}
    print(data, file=sys.stderr)
    try:
        future = producer.send(topic_name,value=data)
        event('send', e)
        record_metadata = future.get(timeout=timeout)
        event('ack', e, partition=record_metadata.partition, offset=record_metadata.offset)
        print(record_metadata.topic, file=sys.stderr)
        print(record_metadata.partition, file=sys.stderr)
        print(record_metadata.offset, file=sys.stderr)
        sleep(pause)
    except Exception as ex:
        event('error', e, error=str(ex))
        print(ex, file=sys.stderr)

producer.flush()
producer.close()
event('end')
