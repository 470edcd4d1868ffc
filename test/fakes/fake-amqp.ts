/**
 * An in-memory stand-in for amqplib's promise API (connect → ChannelModel → Channel), just enough
 * for src/identity/keystone/amqp-consumer.ts: declarations are recorded, a test delivers messages
 * by hand and sees which were acked or requeued; the broker can be "down" (connect rejects) and
 * a connection can be dropped.
 */
import { EventEmitter } from 'node:events';
import type { ChannelModel, ConsumeMessage } from 'amqplib';

export interface Settled {
  deliveryTag: number;
  outcome: 'ack' | 'requeue' | 'drop';
}

export class FakeBroker {
  down = false;
  connects = 0;
  readonly declarations: string[] = [];
  readonly settled: Settled[] = [];
  /** When set, assertExchange fails like a conflicting declaration (406). */
  exchangeConflict = false;
  private consumer: ((msg: ConsumeMessage | null) => void) | null = null;
  private consumingChannel: EventEmitter | null = null;
  private connection: FakeConnection | null = null;
  private tag = 0;
  private settleWaiters: (() => void)[] = [];

  readonly connect = async (url: string): Promise<ChannelModel> => {
    this.connects++;
    if (this.down) throw new Error(`connect ECONNREFUSED (${url.replace(/:[^:@/]*@/, ':***@')})`);
    this.connection = new FakeConnection(this);
    return this.connection as unknown as ChannelModel;
  };

  isConsuming(): boolean {
    return this.consumer !== null;
  }

  /** Delivers one message; resolves once the consumer has acked or requeued it. */
  async deliver(content: string | Buffer, routingKey = 'notifications.info'): Promise<Settled> {
    if (!this.consumer) throw new Error('nobody consumes');
    const deliveryTag = ++this.tag;
    this.consumer({
      content: Buffer.isBuffer(content) ? content : Buffer.from(content),
      fields: { deliveryTag, redelivered: false, exchange: 'keystone', routingKey, consumerTag: 'c' },
      properties: { contentType: 'application/json', headers: {} },
    } as unknown as ConsumeMessage);
    for (;;) {
      const done = this.settled.find((s) => s.deliveryTag === deliveryTag);
      if (done) return done;
      await new Promise<void>((resolve) => this.settleWaiters.push(resolve));
    }
  }

  /** The broker closes the connection (restart, network loss). */
  drop(): void {
    const c = this.connection;
    this.connection = null;
    this.consumer = null;
    c?.emitClose();
  }

  setConsumer(fn: ((msg: ConsumeMessage | null) => void) | null, channel: EventEmitter | null = null): void {
    this.consumer = fn;
    this.consumingChannel = channel;
  }

  /** The broker closes the consuming channel only (a channel-level error), the connection stays. */
  closeChannel(): void {
    const ch = this.consumingChannel;
    this.setConsumer(null);
    ch?.emit('close');
  }

  settle(s: Settled): void {
    this.settled.push(s);
    const waiters = this.settleWaiters;
    this.settleWaiters = [];
    for (const w of waiters) w();
  }
}

class FakeConnection extends EventEmitter {
  private closed = false;
  constructor(private readonly broker: FakeBroker) {
    super();
  }

  async createChannel(): Promise<FakeChannel> {
    if (this.closed) throw new Error('connection closed');
    return new FakeChannel(this.broker);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.broker.setConsumer(null);
    this.emitClose();
  }

  emitClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }
}

class FakeChannel extends EventEmitter {
  constructor(private readonly broker: FakeBroker) {
    super();
  }

  async assertExchange(name: string, type: string, options: { durable: boolean; autoDelete: boolean }) {
    this.broker.declarations.push(
      `exchange ${name} ${type} durable=${options.durable} autoDelete=${options.autoDelete}`,
    );
    if (this.broker.exchangeConflict) throw Object.assign(new Error('PRECONDITION_FAILED'), { code: 406 });
    return { exchange: name };
  }

  async checkExchange(name: string) {
    this.broker.declarations.push(`check exchange ${name}`);
    return {};
  }

  async assertQueue(name: string, options: { durable: boolean }) {
    this.broker.declarations.push(`queue ${name} durable=${options.durable}`);
    return { queue: name, messageCount: 0, consumerCount: 0 };
  }

  async bindQueue(queue: string, exchange: string, key: string) {
    this.broker.declarations.push(`bind ${queue} ${exchange} ${key}`);
    return {};
  }

  async prefetch(n: number) {
    this.broker.declarations.push(`prefetch ${n}`);
    return {};
  }

  async consume(queue: string, fn: (msg: ConsumeMessage | null) => void, options: { noAck: boolean }) {
    this.broker.declarations.push(`consume ${queue} noAck=${options.noAck}`);
    this.broker.setConsumer(fn, this);
    return { consumerTag: 'c' };
  }

  ack(msg: ConsumeMessage): void {
    this.broker.settle({ deliveryTag: msg.fields.deliveryTag, outcome: 'ack' });
  }

  nack(msg: ConsumeMessage, _allUpTo?: boolean, requeue = true): void {
    this.broker.settle({ deliveryTag: msg.fields.deliveryTag, outcome: requeue ? 'requeue' : 'drop' });
  }
}
