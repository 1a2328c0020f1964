import type { Cluster } from 'ioredis';
import { Redis } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import { enableKeyspaceEvents } from './keyspace-events';
import type { ChannelListener, KeyspaceEventsSource, Listening } from './subscriber';
import { Subscriber } from './subscriber';

const KEYSPACE_CHANNEL = /^__keyspace@\d+__:/;

/**
 * ioredis refreshes a cluster's slots only when a command meets MOVED or a
 * failing node, and waiters send nothing; while anyone waits, refresh this
 * often so that subscriptions follow a migrated slot or a promoted replica.
 */
export const SLOTS_REFRESH_MS = 1_000;

interface Route {
  readonly name: string;
  readonly listener: ChannelListener;
  node: string;
  inner: Listening;
}

/**
 * Keyspace notifications on Redis Cluster are local to the node that holds
 * the key. This routes each lock's channel to the primary that owns the
 * key's slot, with one subscriber connection per node (not per lock), and
 * moves a channel when its slot moves (migration, failover), telling its
 * listeners to retry as after a reconnect.
 */
export class ClusterSubscriber implements KeyspaceEventsSource {
  private readonly nodes = new Map<string, Subscriber>();
  private readonly routes = new Set<Route>();
  private refresher: NodeJS.Timeout | undefined;
  /** A waiter asked for keyspace events: every node a channel is routed to gets them, until nobody listens. */
  private keyspaceEvents = false;

  constructor(private readonly cluster: Cluster) {
    cluster.on('refresh', this.reroute);
  }

  listen(name: string, listener: ChannelListener): Listening {
    const node = this.nodeFor(name);
    const route: Route = { name, listener, node, inner: this.node(node).listen(name, listener) };
    this.routes.add(route);
    this.refresher ??= setInterval(() => this.refresh(), SLOTS_REFRESH_MS);
    let closed = false;
    return {
      ready: route.inner.ready,
      close: () => {
        if (closed) return;
        closed = true;
        this.routes.delete(route);
        route.inner.close();
        if (this.routes.size === 0) {
          this.stopRefreshing();
          this.keyspaceEvents = false;
        }
      },
    };
  }

  requestKeyspaceEvents(): void {
    this.keyspaceEvents = true;
    for (const node of this.nodes.values()) node.requestKeyspaceEvents();
  }

  close(): void {
    this.stopRefreshing();
    this.keyspaceEvents = false;
    this.cluster.off('refresh', this.reroute);
    for (const node of this.nodes.values()) node.close();
    this.nodes.clear();
    this.routes.clear();
  }

  private refresh(): void {
    this.cluster.refreshSlotsCache();
  }

  private stopRefreshing(): void {
    clearInterval(this.refresher);
    this.refresher = undefined;
  }

  private readonly reroute = (): void => {
    for (const route of this.routes) {
      const node = this.nodeFor(route.name);
      if (node === route.node) continue;
      const previous = route.inner;
      route.node = node;
      route.inner = this.node(node).listen(route.name, route.listener);
      previous.close();
      const { inner, listener } = route;
      void inner.ready.then((ok) => {
        if (ok && route.inner === inner && this.routes.has(route)) listener.resubscribed();
      });
    }
  };

  /** `host:port` of the primary owning the slot of the channel's key (any node until slots are known). */
  private nodeFor(channel: string): string {
    const key = channel.replace(KEYSPACE_CHANNEL, '');
    const owner = this.cluster.slots[calculateSlot(key)]?.[0];
    if (owner !== undefined) return owner;
    // Slots are known once the cluster answered a command, which every waiter's first attempt did.
    const any = this.cluster.nodes('master')[0]?.options;
    return `${any?.host ?? '127.0.0.1'}:${any?.port ?? 6379}`;
  }

  private node(address: string): Subscriber {
    let subscriber = this.nodes.get(address);
    if (subscriber === undefined) {
      const [host, port] = splitAddress(address);
      subscriber = new Subscriber(
        () => new Redis({ ...this.cluster.options.redisOptions, host, port, autoResubscribe: false, disconnectTimeout: 100 }),
        (client) => enableKeyspaceEvents(client),
        // A node that went away: look again at who owns the slots now.
        () => this.refresh(),
        () => this.cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === address),
      );
      this.nodes.set(address, subscriber);
    }
    // A node's subscriber forgets the request when its last channel goes; routing to it again renews it.
    if (this.keyspaceEvents) subscriber.requestKeyspaceEvents();
    return subscriber;
  }
}

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}
