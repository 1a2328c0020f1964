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
  /** `host:port` of the primary it is subscribed on; undefined until the slots are known. */
  node: string | undefined;
  inner: Listening | undefined;
  /** Its shard channel of the same name on that node, where wake-ups arrive (Redis >= 7). */
  shardInner: Listening | undefined;
  /** Settles the listener's `ready` with the first subscription's. */
  readonly routed: (ready: Promise<boolean> | boolean) => void;
}

/**
 * Keyspace notifications on Redis Cluster are local to the node that holds
 * the key. This routes each lock's channel to the primary that owns the
 * key's slot, with one subscriber connection per node (not per lock), and
 * moves a channel when its slot moves (migration, failover), telling its
 * listeners to retry as after a reconnect.
 *
 * Wake-ups (releases, grants) come on the shard channel of the same name
 * (see scripts/includes/wake.lua): SPUBLISH in the lock's slot reaches the
 * slot's shard only, where a plain PUBLISH crossed the cluster bus to every
 * node. So each channel is also SSUBSCRIBEd on the same primary, over a
 * second connection per node; expiry events stay on the plain, node-local
 * keyspace channel. On a server without sharded pub/sub (Redis < 7) the
 * SSUBSCRIBE is refused as an unknown command, and the scripts there
 * PUBLISH on the plain channel as before. When a slot moves, Redis drops
 * its shard channels on the old owner (a SUNSUBSCRIBE it sends by itself,
 * which ioredis' plain connection only notes: StackExchange.Redis#2969 shows
 * the trap); the slots refresh below then routes both channels to the new
 * owner. ioredis' own Cluster#ssubscribe is not used (ioredis#1759: it lost
 * smessages); yadl's per-node connections SSUBSCRIBE one channel per
 * command, as ioredis#2021 resubscribes them (one command's shard channels
 * must share a slot).
 */
export class ClusterSubscriber implements KeyspaceEventsSource {
  private readonly nodes = new Map<string, Subscriber>();
  private readonly shardNodes = new Map<string, Subscriber>();
  private readonly routes = new Set<Route>();
  private refresher: NodeJS.Timeout | undefined;
  /** A waiter asked for keyspace events: every node a channel is routed to gets them, until nobody listens. */
  private keyspaceEvents = false;

  constructor(private readonly cluster: Cluster) {
    cluster.on('refresh', this.reroute);
    cluster.on('ready', this.reroute);
  }

  listen(name: string, listener: ChannelListener): Listening {
    let routed!: (ready: Promise<boolean> | boolean) => void;
    const ready = new Promise<boolean>((resolve) => (routed = resolve));
    const route: Route = { name, listener, node: undefined, inner: undefined, shardInner: undefined, routed };
    this.routes.add(route);
    // Until the cluster has told who owns the slot, the channel waits unsubscribed
    // ('refresh' and 'ready' route it): any node but the owner would never publish its events.
    const owner = this.ownerOf(name);
    if (owner !== undefined) this.move(route, owner);
    this.refresher ??= setInterval(() => this.refresh(), SLOTS_REFRESH_MS);
    let closed = false;
    return {
      ready,
      close: () => {
        if (closed) return;
        closed = true;
        this.routes.delete(route);
        route.inner?.close();
        route.shardInner?.close();
        route.routed(false);
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
    this.cluster.off('ready', this.reroute);
    for (const route of this.routes) route.routed(false);
    for (const node of [...this.nodes.values(), ...this.shardNodes.values()]) node.close();
    this.nodes.clear();
    this.shardNodes.clear();
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
      const owner = this.ownerOf(route.name);
      if (owner !== undefined && owner !== route.node) this.move(route, owner);
    }
  };

  /** Subscribes the route on `node`; a route that moves tells its listener to retry. */
  private move(route: Route, node: string): void {
    const previous = route.inner;
    const previousShard = route.shardInner;
    route.node = node;
    const inner = this.node(node).listen(route.name, route.listener);
    const shardInner = this.shardNode(node).listen(route.name, route.listener);
    route.inner = inner;
    route.shardInner = shardInner;
    // Ready once both are: a wake-up published before that may have been missed.
    const ready = Promise.all([inner.ready, shardInner.ready]).then(([plain, shard]) => plain && shard);
    if (previous === undefined) {
      route.routed(ready);
      return;
    }
    previous.close();
    previousShard?.close();
    void ready.then((ok) => {
      if (ok && route.inner === inner && this.routes.has(route)) route.listener.resubscribed();
    });
  }

  /** `host:port` of the primary owning the slot of the channel's key, if the cluster has said. */
  private ownerOf(channel: string): string | undefined {
    const key = channel.replace(KEYSPACE_CHANNEL, '');
    return this.cluster.slots[calculateSlot(key)]?.[0];
  }

  private node(address: string): Subscriber {
    let subscriber = this.nodes.get(address);
    if (subscriber === undefined) {
      subscriber = new Subscriber(
        () => this.nodeClient(address),
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

  /** The node's shard-channel subscriber: no keyspace events to turn on there. */
  private shardNode(address: string): Subscriber {
    let subscriber = this.shardNodes.get(address);
    if (subscriber === undefined) {
      subscriber = new Subscriber(
        () => this.nodeClient(address),
        () => Promise.resolve(),
        () => this.refresh(),
        () => undefined,
        true,
      );
      this.shardNodes.set(address, subscriber);
    }
    return subscriber;
  }

  private nodeClient(address: string): Redis {
    const [host, port] = splitAddress(address);
    return new Redis({ ...this.cluster.options.redisOptions, host, port, autoResubscribe: false, disconnectTimeout: 100 });
  }
}

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}
