#Fire-and-forget
#
# The tutorial's fire-and-forget.py, adapted to kafka-chaos's external
# producer protocol v1 (docs/external-producers.md). The harness passes the
# broker, topic, record count, pause and client settings in KAFKA_CHAOS_*
# variables; stdout carries one JSON line per send (the script never learns
# an outcome); the tutorial's own prints go to stderr (the harness's log).
#
# As in the tutorial, the script ends without flush() or close(). What
# kafka-python does then is its own business: its atexit hook calls
# close(timeout=1), which waits at most about a second per pending batch.

import json
import os
import sys
from time import sleep
from json import dumps
from kafka import KafkaProducer

env = os.environ
topic_name = env['KAFKA_CHAOS_TOPIC']
records = int(env['KAFKA_CHAOS_RECORDS'])
pause = float(env['KAFKA_CHAOS_PAUSE_S'])
settings = json.loads(env.get('KAFKA_CHAOS_CLIENT_SETTINGS', '{}'))

def event(name, seq=None, **fields):
    """One protocol line, written whole and flushed at once."""
    line = dict(event=name, **fields) if seq is None else dict(event=name, seq=seq, **fields)
    sys.stdout.write(dumps(line) + '\n')
    sys.stdout.flush()

import kafka
event('start', protocol=1, client='kafka-python ' + kafka.__version__)

producer = KafkaProducer(bootstrap_servers=[env['KAFKA_CHAOS_BOOTSTRAP']], value_serializer = lambda x: dumps(x).encode('utf-8'), **settings)

for e in range (records):
    data = {'number': e, 'id': '{}/{}'.format(topic_name, e)}
    print(data, file=sys.stderr)
    producer.send(topic_name,value=data)
    event('send', e)
    sleep(pause)

event('end')
