/**
 * A durable AMQP 0-9-1 (RabbitMQ) consumer with acknowledgements and reconnection, independent
 * of what the messages mean (Keystone's notifications today, account-state events later).
 *
 * It declares the exchange exactly as its publisher does, so the declaration can never conflict
 * (oslo.messaging: topic, durable=false, auto_delete=false); should it still conflict (406
 * PRECONDITION_FAILED: declared otherwise by someone else) it checks the exchange passively on a
 * new channel and goes on. It declares its own durable queue, binds it with the given keys (not
 * oslo's `notifications.info` queue, which other consumers may drain), and hands the messages to
 * one handler, one at a time, in delivery order. A message is settled only after its handler has
 * finished, as the handler answers:
 *  - 'ack': done (or nothing to do);
 *  - 'requeue': a transient failure (a backend or a listener not ready); the message goes back to
 *    the queue after requeueDelayMs, so a failing dependency is retried at that pace, not in a loop;
 *  - { park: reason }: the message can never be handled (malformed). It is published, bytes
 *    untouched, to the dead-letter queue (durable, declared at connect; publisher-confirmed before
 *    the original is acked, so a parked message is never lost), with headers saying why, and
 *    logged. Should publishing fail, the message is requeued after the delay instead.
 * A handler that throws is a bug: its message is parked the same way, so one message can never
 * wedge the queue or crash the consumer. Unacked messages return to the queue when the connection
 * drops, so delivery is at least once and handlers must be idempotent. When the broker is
 * unreachable or the connection drops, it reconnects with capped exponential backoff until stopped.
 */
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { Clock, Timer } from '../../lib/clock.js';
import { errorMessage } from '../../lib/errors.js';

export interface AmqpMessage {
  content: Buffer;
  exchange: string;
  routingKey: string;
  redelivered: boolean;
  contentType: string | undefined;
}

/** How a handled message is settled (see the top of this file). */
export type AmqpOutcome = 'ack' | 'requeue' | { park: string };

/** Headers of a parked message: why, when, and where it came from. */
export const deadLetterHeaders = {
  reason: 'x-alliance-dead-reason',
  atMs: 'x-alliance-dead-at-ms',
  queue: 'x-alliance-original-queue',
  exchange: 'x-alliance-original-exchange',
  routingKey: 'x-alliance-original-routing-key',
} as const;

/** Longest reason written to a dead-letter header and to the log. */
const deadReasonCharsMax = 500;

export type AmqpHandler = (message: AmqpMessage) => Promise<AmqpOutcome>;

export interface AmqpConsumerOptions {
  /** amqp://user:password@host:port/vhost; a heartbeat of 30 s is added unless it names one. */
  url: string;
  exchange: string;
  exchangeType: 'topic' | 'direct' | 'fanout' | 'headers';
  /** As the publisher declares it (oslo.messaging: false). */
  exchangeDurable: boolean;
  /** Our own queue, durable: messages published while we are away wait for us. */
  queue: string;
  bindingKeys: string[];
  /** Unacked messages the broker may push ahead of the handler. */
  prefetch: number;
  connectTimeoutMs: number;
  reconnectBackoffMinMs: number;
  reconnectBackoffMaxMs: number;
  /** How long a 'requeue' answer holds the message before it goes back to the queue. */
  requeueDelayMs: number;
  /**
   * Our own durable queue for messages that can never be handled (conventionally `<queue>.dead`);
   * null: a parked message is logged and dropped.
   */
  deadLetterQueue: string | null;
}

export const defaultAmqpConsumerTiming = {
  prefetch: 16,
  connectTimeoutMs: 10_000,
  reconnectBackoffMinMs: 500,
  reconnectBackoffMaxMs: 30_000,
  requeueDelayMs: 5_000,
} as const;

export interface AmqpConsumerDeps {
  clock: Clock;
  log: Logger;
  /** amqplib's connect, replaceable in tests. */
  connect?: (url: string, socketOptions?: unknown) => Promise<ChannelModel>;
}

export interface AmqpConsumer {
  /** Connects once (and consumes) before resolving; if that fails, keeps trying in the background. */
  start(): Promise<void>;
  /** Closes the connection; messages not yet acked go back to the queue. */
  stop(): Promise<void>;
  isConsuming(): boolean;
}

export function createAmqpConsumer(
  deps: AmqpConsumerDeps,
  options: AmqpConsumerOptions,
  handler: AmqpHandler,
): AmqpConsumer {
  const log = deps.log;
  const connect =
    deps.connect ?? ((url: string, socketOptions?: unknown) => amqp.connect(url, socketOptions));
  const url = withHeartbeat(options.url);
  const where = { exchange: options.exchange, queue: options.queue, broker: redactUrl(options.url) };
  let stopped = true;
  let connection: ChannelModel | null = null;
  /** Publishes parked messages; one per connection, with publisher confirms. */
  let deadLetters: ConfirmChannel | null = null;
  let consuming = false;
  let reconnectTimer: Timer | null = null;
  let backoffMs = options.reconnectBackoffMinMs;
  /** Messages are handled one after another: this is the tail of that queue. */
  let tail: Promise<void> = Promise.resolve();
  const delays = new Set<{ timer: Timer; resolve: () => void }>();

  async function connectOnce(): Promise<void> {
    const conn = await connect(url, { timeout: options.connectTimeoutMs });
    if (stopped) {
      await conn.close().catch(() => undefined);
      return;
    }
    connection = conn;
    conn.on('error', (err: unknown) =>
      log.warn({ ...where, err: errorMessage(err) }, 'AMQP connection error'),
    );
    conn.on('close', () => {
      if (connection === conn) {
        connection = null;
        deadLetters = null;
        consuming = false;
      }
      if (!stopped) {
        log.warn(where, 'AMQP connection closed; reconnecting');
        scheduleReconnect();
      }
    });
    try {
      let channel = await openChannel(conn);
      try {
        await channel.assertExchange(options.exchange, options.exchangeType, {
          durable: options.exchangeDurable,
          autoDelete: false,
        });
      } catch (err) {
        if (!isPreconditionFailed(err)) throw err;
        log.warn(
          { ...where, err: errorMessage(err) },
          'exchange declared with other options by its publisher; using it as it is',
        );
        channel = await openChannel(conn);
        await channel.checkExchange(options.exchange);
      }
      await channel.assertQueue(options.queue, { durable: true, autoDelete: false, exclusive: false });
      if (options.deadLetterQueue !== null) deadLetters = await openDeadLetterChannel(conn);
      for (const key of options.bindingKeys) await channel.bindQueue(options.queue, options.exchange, key);
      await channel.prefetch(options.prefetch);
      const ch = channel;
      await ch.consume(options.queue, (msg) => onDelivery(conn, ch, msg), { noAck: false });
      // A channel-level error (e.g. a broker-side 406) closes only the channel: without this the
      // connection would stay up and consume nothing. Start over on a fresh connection instead.
      ch.on('close', () => {
        if (stopped || connection !== conn) return;
        log.warn(where, 'AMQP channel closed; reconnecting');
        void conn.close().catch(() => undefined);
      });
      consuming = true;
      backoffMs = options.reconnectBackoffMinMs;
      log.info(where, 'consuming AMQP messages');
    } catch (err) {
      // The close event schedules the reconnection.
      await conn.close().catch(() => undefined);
      throw err;
    }
  }

  async function openChannel(conn: ChannelModel): Promise<Channel> {
    const ch = await conn.createChannel();
    ch.on('error', (err: unknown) => log.warn({ ...where, err: errorMessage(err) }, 'AMQP channel error'));
    return ch;
  }

  async function openDeadLetterChannel(conn: ChannelModel): Promise<ConfirmChannel> {
    const ch = await conn.createConfirmChannel();
    ch.on('error', (err: unknown) =>
      log.warn({ ...where, err: errorMessage(err) }, 'AMQP dead-letter channel error'),
    );
    ch.on('close', () => {
      if (deadLetters === ch) deadLetters = null;
      if (stopped || connection !== conn) return;
      log.warn(where, 'AMQP dead-letter channel closed; reconnecting');
      void conn.close().catch(() => undefined);
    });
    await ch.assertQueue(options.deadLetterQueue!, { durable: true, autoDelete: false, exclusive: false });
    return ch;
  }

  function onDelivery(conn: ChannelModel, ch: Channel, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The broker cancelled the consumer (queue deleted): start over on a fresh connection.
      log.warn(where, 'AMQP consumer cancelled by the broker');
      void conn.close().catch(() => undefined);
      return;
    }
    tail = tail.then(() => handleOne(ch, msg));
  }

  async function handleOne(ch: Channel, msg: ConsumeMessage): Promise<void> {
    if (stopped) return;
    let outcome: AmqpOutcome;
    try {
      outcome = await handler({
        content: msg.content,
        exchange: msg.fields.exchange,
        routingKey: msg.fields.routingKey,
        redelivered: msg.fields.redelivered,
        contentType: msg.properties.contentType as string | undefined,
      });
    } catch (err) {
      // A handler bug must not wedge the queue on one message, nor lose it.
      log.error({ ...where, err: errorMessage(err) }, 'AMQP message handler failed');
      outcome = { park: `handler failed: ${errorMessage(err)}` };
    }
    try {
      if (typeof outcome === 'object') outcome = await park(msg, outcome.park);
      if (outcome === 'ack') {
        ch.ack(msg);
      } else {
        // Stopping: the connection closes and the broker requeues the message without our help.
        if (stopped) return;
        await delay(options.requeueDelayMs);
        if (!stopped) ch.nack(msg, false, true);
      }
    } catch (err) {
      // The channel closed meanwhile: the broker redelivers the message on the next connection.
      log.debug({ ...where, err: errorMessage(err) }, 'could not settle AMQP message');
    }
  }

  /** Puts `msg` in the dead-letter queue: 'ack' once the broker confirmed it, else 'requeue'. */
  async function park(msg: ConsumeMessage, why: string): Promise<'ack' | 'requeue'> {
    const reason = why.length > deadReasonCharsMax ? `${why.slice(0, deadReasonCharsMax)}...` : why;
    const about = {
      ...where,
      reason,
      bytes: msg.content.length,
      routingKey: msg.fields.routingKey,
      redelivered: msg.fields.redelivered,
    };
    if (options.deadLetterQueue === null) {
      log.warn(about, 'AMQP message cannot be handled; dropped (no dead-letter queue)');
      return 'ack';
    }
    const pub = deadLetters;
    if (pub === null) {
      log.warn(about, 'AMQP message cannot be handled and the dead-letter queue is unavailable; requeued');
      return 'requeue';
    }
    const properties = msg.properties as Partial<ConsumeMessage['properties']>;
    const headers: Record<string, unknown> = {
      ...(properties.headers ?? {}),
      [deadLetterHeaders.reason]: reason,
      [deadLetterHeaders.atMs]: deps.clock.nowMs(),
      [deadLetterHeaders.queue]: options.queue,
      [deadLetterHeaders.exchange]: msg.fields.exchange,
      [deadLetterHeaders.routingKey]: msg.fields.routingKey,
    };
    try {
      await new Promise<void>((resolve, reject) => {
        pub.sendToQueue(
          options.deadLetterQueue!,
          msg.content,
          {
            persistent: true,
            headers,
            contentType: properties.contentType as string | undefined,
            contentEncoding: properties.contentEncoding as string | undefined,
            messageId: properties.messageId as string | undefined,
            timestamp: properties.timestamp as number | undefined,
          },
          (err: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()),
        );
      });
    } catch (err) {
      log.warn({ ...about, err: errorMessage(err) }, 'parking an AMQP message failed; requeued');
      return 'requeue';
    }
    log.warn(
      { ...about, deadLetterQueue: options.deadLetterQueue },
      'AMQP message parked in the dead-letter queue',
    );
    return 'ack';
  }

  function delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: deps.clock.setTimer(ms, () => {
          delays.delete(entry);
          resolve();
        }),
        resolve,
      };
      delays.add(entry);
    });
  }

  function scheduleReconnect(): void {
    if (stopped || reconnectTimer) return;
    const waitMs = backoffMs;
    backoffMs = Math.min(options.reconnectBackoffMaxMs, backoffMs * 2);
    reconnectTimer = deps.clock.setTimer(waitMs, () => {
      reconnectTimer = null;
      void attempt();
    });
  }

  async function attempt(): Promise<void> {
    if (stopped || connection) return;
    try {
      await connectOnce();
    } catch (err) {
      log.warn({ ...where, err: errorMessage(err), retryInMs: backoffMs }, 'AMQP broker unavailable');
      scheduleReconnect();
    }
  }

  /** `promise` settled, or `ms` passed: a broker that never answers close-ok must not hang stop(). */
  function boundedWait(promise: Promise<unknown>, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = deps.clock.setTimer(ms, resolve);
      promise.then(
        () => (timer.cancel(), resolve()),
        () => (timer.cancel(), resolve()),
      );
    });
  }

  return {
    async start() {
      if (!stopped) return;
      stopped = false;
      await attempt();
    },
    async stop() {
      stopped = true;
      reconnectTimer?.cancel();
      reconnectTimer = null;
      for (const d of delays) {
        d.timer.cancel();
        d.resolve();
      }
      delays.clear();
      const conn = connection;
      connection = null;
      deadLetters = null;
      consuming = false;
      if (conn) await boundedWait(conn.close(), options.connectTimeoutMs);
      await tail;
    },
    isConsuming: () => consuming,
  };
}

function isPreconditionFailed(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 406;
}

function withHeartbeat(url: string): string {
  if (/[?&]heartbeat=/.test(url)) return url;
  return url + (url.includes('?') ? '&' : '?') + 'heartbeat=30';
}

/** The broker URL without its password, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}
