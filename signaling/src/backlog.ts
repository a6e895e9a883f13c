// The one place that reaches under socket.io into a connection's engine.io and ws internals: what the server
// holds for it that has not gone out yet (the measure of a slow recipient), its raw websocket, and the
// connection an upgrade request names.

/** The part of ws's WebSocket the server uses (engine.io's websocket transport keeps one). */
export interface RawWebSocket {
  readonly bufferedAmount: number;
  readonly isPaused: boolean;
  pause(): void;
  resume(): void;
  terminate(): void;
}

/** The engine.io connection a request names by its `sid`, if it is live. */
export function engineConnection(engine: unknown, sid: string): object | undefined {
  const clients = (engine as { clients?: Record<string, object | undefined> }).clients;
  return clients && Object.hasOwn(clients, sid) ? clients[sid] : undefined;
}

/** The connection's ws socket, or undefined on another transport (long polling). */
export function websocketOf(socket: { conn: unknown }): RawWebSocket | undefined {
  const ws = (socket.conn as { transport?: { socket?: Partial<RawWebSocket> } }).transport?.socket;
  return typeof ws?.pause === 'function' && typeof ws.terminate === 'function'
    ? (ws as RawWebSocket)
    : undefined;
}

/** Bytes waiting to go out to one connection: engine.io's write buffer and the websocket's. */
export function pendingBytes(socket: { conn: unknown }, cap: number): number {
  const queued = (socket.conn as { writeBuffer?: { data?: unknown }[] }).writeBuffer ?? [];
  // Many tiny packets are as bad as a few big ones; do not walk an endless queue to find out.
  if (queued.length > 4_096) return Number.POSITIVE_INFINITY;
  let bytes = websocketOf(socket)?.bufferedAmount ?? 0;
  for (const packet of queued) {
    const data = packet.data;
    bytes += typeof data === 'string' ? data.length : ((data as { byteLength?: number })?.byteLength ?? 0);
    if (bytes > cap) break;
  }
  return bytes;
}
