#Asynchronous send (with error)
#
# The tutorial's asynchronous-send.py, adapted to kafka-chaos's external
# producer protocol v1 (docs/external-producers.md). One script for both of
# the tutorial's variants: with KAFKA_CHAOS_PAUSE_S=0 it is the success
# scenario (no sleep), with 0.5 the "with error" one. The harness passes the
# broker, topic, record count, pause and client settings in KAFKA_CHAOS_*
# variables; stdout carries one JSON line per send and one per callback or
# errback; the tutorial's own prints go to stderr (the harness's log file).

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
settings = json.loads(env.get('KAFKA_CHAOS_CLIENT_SETTINGS', '{}'))
lock = threading.Lock()

def event(name, seq=None, **fields):
    """One protocol line, written whole and flushed at once (callbacks run
    on kafka-python's sender thread)."""
    line = dict(event=name, **fields) if seq is None else dict(event=name, seq=seq, **fields)
    with lock:
        sys.stdout.write(dumps(line) + '\n')
        sys.stdout.flush()

import kafka
event('start', protocol=1, client='kafka-python ' + kafka.__version__)

producer = KafkaProducer(bootstrap_servers=[env['KAFKA_CHAOS_BOOTSTRAP']], value_serializer = lambda x: dumps(x).encode('utf-8'), **settings)

def on_send_success(record_metadata, message):
    event('ack', message['number'], partition=record_metadata.partition, offset=record_metadata.offset)
    print(file=sys.stderr)
    print("""Successfully produced "{}" to topic {} and partition {} at offset {}""".format(message, record_metadata.topic,record_metadata.partition,record_metadata.offset), file=sys.stderr)
    print(file=sys.stderr)

def on_send_error(excp, message):
    event('error', message['number'], error=str(excp))
    print(file=sys.stderr)
    print('Failed to write the message "{}", error: {}'.format(message, excp), file=sys.stderr)

for e in range (records):
    data = {'number': e, 'id': '{}/{}'.format(topic_name, e)}
    future = producer.send(topic_name,value=data)
    event('send', e)
    record_metadata = future.add_callback(on_send_success, message=data).add_errback(on_send_error, message=data)
    print("Sent the message {} using send method".format(data), file=sys.stderr)
    print(file=sys.stderr)
    if pause:
        sleep(pause) # we add sleep so we can manually terminate our broker, without that the process is too fast

producer.flush()
producer.close()
event('end')
