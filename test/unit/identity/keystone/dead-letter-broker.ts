/**
 * test/fakes/fake-amqp.ts's broker with what parking needs on top: its connections also open
 * confirm channels, whose sendToQueue records the message (or, when told, is nacked by the
 * "broker"), so a test sees what went to the dead-letter queue, with which headers, and whether
 * it was confirmed before the original message was acked.
 */
import type { ChannelModel, Options } from 'amqplib';
import { FakeBroker } from '../../../fakes/fake-amqp.js';

export interface PublishedMessage {
  queue: string;
  content: Buffer;
  options: Options.Publish;
  /** How many messages the consumer had settled (acked or requeued) when it was confirmed. */
  settledBefore: number;
}

interface FakeConnectionLike {
  createChannel(): Promise<object>;
  createConfirmChannel?: () => Promise<object>;
}

export interface DeadLetterBroker {
  broker: FakeBroker;
  /** For the consumer's (or the identity source's) `connect`. */
  connect: (url: string) => Promise<ChannelModel>;
  /** Everything published and confirmed, in order. */
  published: PublishedMessage[];
  /** While true, the broker nacks every publish. */
  refusePublishes: boolean;
}

export function deadLetterBroker(broker = new FakeBroker()): DeadLetterBroker {
  const fake: DeadLetterBroker = {
    broker,
    published: [],
    refusePublishes: false,
    async connect(url) {
      const conn = (await broker.connect(url)) as unknown as FakeConnectionLike;
      conn.createConfirmChannel = async () => {
        const ch = await conn.createChannel();
        return Object.assign(ch, {
          sendToQueue(
            queue: string,
            content: Buffer,
            options: Options.Publish,
            confirm: (e: unknown) => void,
          ) {
            if (fake.refusePublishes) {
              setImmediate(() => confirm(new Error('message nacked')));
              return true;
            }
            fake.published.push({ queue, content, options, settledBefore: broker.settled.length });
            setImmediate(() => confirm(null));
            return true;
          },
          waitForConfirms: async () => undefined,
        });
      };
      return conn as unknown as ChannelModel;
    },
  };
  return fake;
}
