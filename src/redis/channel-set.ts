import type { ChannelListener, Listening, NotificationSource } from './subscriber';

/**
 * A notification source whose channel names stand for several channels of
 * another source: `listen(channelSetName(channels))` listens to each of them,
 * with one listener, ready once all are. A multi-name hold waits for a
 * wake-up on any of its names this way, and the wait queue (one per channel
 * name per source) stays unchanged: waiters of the same names in one process
 * share one queue behind these subscriptions, which the source underneath
 * shares with every other waiter of those names.
 */
class ChannelSet implements NotificationSource {
  constructor(private readonly source: NotificationSource) {}

  listen(name: string, listener: ChannelListener): Listening {
    const listenings = (JSON.parse(name) as string[]).map((channel) => this.source.listen(channel, listener));
    let closed = false;
    return {
      ready: Promise.all(listenings.map((listening) => listening.ready)).then((ready) => ready.every(Boolean)),
      close: () => {
        if (closed) return;
        closed = true;
        for (const listening of listenings) listening.close();
      },
    };
  }

  /** The source underneath belongs to its connection, which closes it. */
  close(): void {}
}

const sets = new WeakMap<NotificationSource, ChannelSet>();

/** The channel-set view of `source`, one per source (so that queues are shared). */
export function channelSetOf(source: NotificationSource): NotificationSource {
  let set = sets.get(source);
  if (set === undefined) {
    set = new ChannelSet(source);
    sets.set(source, set);
  }
  return set;
}

/** The name that stands for `channels` in a channel set; any characters survive it. */
export function channelSetName(channels: readonly string[]): string {
  return JSON.stringify(channels);
}
