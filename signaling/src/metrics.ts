import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { RoomStore } from './rooms.ts';

export interface SignalingMetrics {
  registry: Registry;
  events: Counter<'kind'>;
  rejected: Counter<'reason'>;
  relayedBytes: Counter<'kind'>;
  throttled: Counter<'reason'>;
  dropped: Counter<'reason'>;
  /** Keeps the largest inbound frame seen. */
  frameBytes: { observe(bytes: number): void };
  connections: Gauge;
}

/** One registry per server, so several servers (tests) never share or clash on metric names. */
export function createMetrics(store: RoomStore, options: { processMetrics: boolean }): SignalingMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'lockstep_rooms',
    help: 'Rooms that currently exist (with at least one session).',
    registers: [registry],
    async collect() {
      this.set((await store.stats()).rooms);
    },
  });
  new Gauge({
    name: 'lockstep_members',
    help: 'Sessions holding a player ID, by state.',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const stats = await store.stats();
      this.set({ state: 'connected' }, stats.connected);
      this.set({ state: 'grace' }, stats.grace);
    },
  });
  const connections = new Gauge({
    name: 'lockstep_connections',
    help: 'Open socket.io connections on this node.',
    registers: [registry],
  });
  const events = new Counter({
    name: 'lockstep_events_total',
    help: 'Inbound socket events, by event name (unknown names are counted as "unknown").',
    labelNames: ['kind'],
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'lockstep_rejected_total',
    help: 'Refused inbound events and connections, by reason (an error code or a connection check).',
    labelNames: ['reason'],
    registers: [registry],
  });
  const relayedBytes = new Counter({
    name: 'lockstep_relayed_bytes_total',
    help: 'Payload bytes forwarded between members, by event (signal or relay).',
    labelNames: ['kind'],
    registers: [registry],
  });
  const throttled = new Counter({
    name: 'lockstep_throttled_total',
    help: 'Events and joins refused by a budget, by budget: connection, address, room_joins, password.',
    labelNames: ['reason'],
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'lockstep_dropped_total',
    help: 'Signals and relays dropped instead of forwarded, by reason (recipient_backlog).',
    labelNames: ['reason'],
    registers: [registry],
  });
  const largestFrame = new Gauge({
    name: 'lockstep_largest_frame_bytes',
    help: 'The largest socket.io frame read from a client since the server started.',
    registers: [registry],
  });
  let largest = 0;
  const frameBytes = {
    observe(bytes: number) {
      if (bytes <= largest) return;
      largest = bytes;
      largestFrame.set(bytes);
    },
  };
  return { registry, events, rejected, relayedBytes, throttled, dropped, frameBytes, connections };
}
