/**
 * The generic AMQP consumer: reconnects with capped backoff after the broker drops it, falls back
 * to a passive check when the exchange was declared otherwise, hands messages over one at a time
 * and settles each only after its handler finished, parks what can never be handled in its
 * dead-letter queue (confirmed before the ack), and leaves nothing behind when stopped.
 */
import { describe, expect, it, vi } from 'vitest';
import { createAmqpConsumer, redactUrl } from '../../../../src/identity/keystone/amqp-consumer.js';
import type { AmqpMessage, AmqpOutcome } from '../../../../src/identity/keystone/amqp-consumer.js';
import { ManualClock } from '../../../../src/lib/clock.js';
import { createLogger } from '../../../../src/lib/logger.js';
import { FakeBroker } from '../../../fakes/fake-amqp.js';
import { deadLetterBroker } from './dead-letter-broker.js';

const options = {
  url: 'amqp://guest:s3cret@127.0.0.1:5672/a',
  exchange: 'events',
  exchangeType: 'topic' as const,
  exchangeDurable: false,
  queue: 'mine',
  bindingKeys: ['a.#', 'b.*'],
  prefetch: 4,
  connectTimeoutMs: 1_000,
  reconnectBackoffMinMs: 100,
  reconnectBackoffMaxMs: 400,
  requeueDelayMs: 1_000,
  deadLetterQueue: null,
};

function setup(handler: (m: AmqpMessage) => Promise<AmqpOutcome> = async () => 'ack') {
  const broker = new FakeBroker();
  const clock = new ManualClock();
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
  const consumer = createAmqpConsumer({ clock, log, connect: broker.connect }, options, handler);
  return { broker, clock, consumer, logText: () => lines.join('') };
}

/** A consumer with the dead-letter queue `mine.dead`. */
function setupParking(handler: (m: AmqpMessage) => Promise<AmqpOutcome>) {
  const dl = deadLetterBroker();
  const clock = new ManualClock();
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
  const consumer = createAmqpConsumer(
    { clock, log, connect: dl.connect },
    { ...options, deadLetterQueue: 'mine.dead' },
    handler,
  );
  const logLines = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { dl, broker: dl.broker, clock, consumer, logLines };
}

describe('createAmqpConsumer', () => {
  it('binds its queue with every key', async () => {
    const { broker, consumer } = setup();
    await consumer.start();
    expect(broker.declarations.filter((d) => d.startsWith('bind'))).toEqual([
      'bind mine events a.#',
      'bind mine events b.*',
    ]);
    await consumer.stop();
  });

  it('checks the exchange passively when its declaration conflicts (406) and consumes anyway', async () => {
    const { broker, consumer, logText } = setup();
    broker.exchangeConflict = true;
    await consumer.start();
    expect(broker.declarations.slice(0, 3)).toEqual([
      'exchange events topic durable=false autoDelete=false',
      'check exchange events',
      'queue mine durable=true',
    ]);
    expect([consumer.isConsuming(), logText().includes('using it as it is')]).toEqual([true, true]);
    await consumer.stop();
  });

  it('reconnects with doubling, capped backoff after the broker drops the connection', async () => {
    const { broker, clock, consumer, logText } = setup();
    await consumer.start();
    broker.down = true;
    broker.drop();
    expect(consumer.isConsuming()).toBe(false);
    for (const [waitMs, connects] of [
      [100, 2],
      [200, 3],
      [400, 4],
      [400, 5],
    ] as const) {
      clock.advance(waitMs - 1);
      expect(broker.connects).toBe(connects - 1);
      clock.advance(1);
      await vi.waitFor(() => expect(broker.connects).toBe(connects));
      await vi.waitFor(() => expect(clock.pendingTimers()).toBe(1));
    }
    broker.down = false;
    clock.advance(400);
    await vi.waitFor(() => expect(consumer.isConsuming()).toBe(true));
    expect(logText()).not.toContain('s3cret');
    expect(logText()).toContain('amqp://guest:***@127.0.0.1:5672/a');
    await consumer.stop();
  });

  it('starts over on a new connection when the broker closes only the consuming channel', async () => {
    const { broker, clock, consumer, logText } = setup();
    await consumer.start();
    broker.closeChannel();
    expect(consumer.isConsuming()).toBe(false);
    await vi.waitFor(() => expect(clock.pendingTimers()).toBe(1));
    clock.advance(100);
    await vi.waitFor(() => expect([broker.connects, consumer.isConsuming()]).toEqual([2, true]));
    expect(logText()).toContain('AMQP channel closed; reconnecting');
    await consumer.stop();
  });

  it('hands messages to the handler one at a time, in order, acking each after it finished', async () => {
    const order: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { broker, consumer } = setup(async (m) => {
      const text = m.content.toString();
      order.push(`start ${text}`);
      if (text === 'first') await gate;
      order.push(`end ${text}`);
      return 'ack';
    });
    await consumer.start();
    const first = broker.deliver('first');
    const second = broker.deliver('second');
    await vi.waitFor(() => expect(order).toEqual(['start first']));
    expect(broker.settled).toEqual([]);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['start first', 'end first', 'start second', 'end second']);
    expect(broker.settled).toEqual([
      { deliveryTag: 1, outcome: 'ack' },
      { deliveryTag: 2, outcome: 'ack' },
    ]);
    await consumer.stop();
  });

  it('parks a message whose handler throws, so one message can never wedge the queue', async () => {
    const { dl, broker, consumer, logLines } = setupParking(async () => {
      throw new Error('bug');
    });
    await consumer.start();
    expect((await broker.deliver('x')).outcome).toBe('ack');
    expect(dl.published.map((p) => [p.queue, p.options.headers?.['x-alliance-dead-reason']])).toEqual([
      ['mine.dead', 'handler failed: bug'],
    ]);
    expect(logLines().map((l) => l['msg'])).toContain('AMQP message handler failed');
    await consumer.stop();
  });

  it('declares its durable dead-letter queue, and parks a message there, untouched, before acking it', async () => {
    const { dl, broker, clock, consumer, logLines } = setupParking(async (m) =>
      m.content.toString() === 'good' ? 'ack' : { park: 'not JSON' },
    );
    await consumer.start();
    expect(broker.declarations).toContain('queue mine.dead durable=true');
    const bytes = Buffer.from([0xff, 0x00, 0x7b]);
    expect(await broker.deliver(bytes, 'notifications.error')).toEqual({ deliveryTag: 1, outcome: 'ack' });
    expect(dl.published).toEqual([
      {
        queue: 'mine.dead',
        content: bytes,
        options: {
          persistent: true,
          headers: {
            'x-alliance-dead-reason': 'not JSON',
            'x-alliance-dead-at-ms': clock.nowMs(),
            'x-alliance-original-queue': 'mine',
            'x-alliance-original-exchange': 'keystone',
            'x-alliance-original-routing-key': 'notifications.error',
          },
          contentType: 'application/json',
          contentEncoding: undefined,
          messageId: undefined,
          timestamp: undefined,
        },
        // confirmed while the original was still unacked
        settledBefore: 0,
      },
    ]);
    expect(logLines().find((l) => l['msg'] === 'AMQP message parked in the dead-letter queue')).toMatchObject(
      {
        level: 40,
        reason: 'not JSON',
        bytes: 3,
        routingKey: 'notifications.error',
        deadLetterQueue: 'mine.dead',
      },
    );
    expect((await broker.deliver('good')).outcome).toBe('ack');
    await consumer.stop();
  });

  it('requeues, after the delay, a message it could not park (the broker refused it)', async () => {
    const { dl, broker, clock, consumer, logLines } = setupParking(async () => ({ park: 'broken' }));
    await consumer.start();
    dl.refusePublishes = true;
    const settled = broker.deliver('x');
    await vi.waitFor(() => expect(clock.pendingTimers()).toBe(1));
    expect(broker.settled).toEqual([]);
    clock.advance(1_000);
    expect((await settled).outcome).toBe('requeue');
    expect(logLines().map((l) => l['msg'])).toContain('parking an AMQP message failed; requeued');
    await consumer.stop();
  });

  it('drops (acks, logs) a message to park when it has no dead-letter queue', async () => {
    const { broker, consumer, logText } = setup(async () => ({ park: 'broken' }));
    await consumer.start();
    expect((await broker.deliver('x')).outcome).toBe('ack');
    expect(logText()).toContain('AMQP message cannot be handled; dropped (no dead-letter queue)');
    await consumer.stop();
  });

  it('stops cleanly: no reconnection, no timers, a held message is not settled', async () => {
    const { broker, clock, consumer } = setup(async () => 'requeue');
    await consumer.start();
    void broker.deliver('x');
    await vi.waitFor(() => expect(clock.pendingTimers()).toBe(1));
    await consumer.stop();
    clock.advance(10_000);
    expect([clock.pendingTimers(), broker.connects, broker.settled, consumer.isConsuming()]).toEqual([
      0,
      1,
      [],
      false,
    ]);
  });

  it('redacts the password of the broker URL', () => {
    expect(redactUrl('amqp://guest:guest@127.0.0.1:5672/a')).toBe('amqp://guest:***@127.0.0.1:5672/a');
  });
});
