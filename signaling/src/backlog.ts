// What a server holds for one connection that has not gone out yet: the measure of a slow recipient.

/** Bytes waiting to go out to one connection: engine.io's write buffer and the websocket's. */
export function pendingBytes(socket: { conn: unknown }, cap: number): number {
  const conn = socket.conn as unknown as {
    writeBuffer?: { data?: unknown }[];
    transport?: { socket?: { bufferedAmount?: number } };
  };
  const queued = conn.writeBuffer ?? [];
  // Many tiny packets are as bad as a few big ones; do not walk an endless queue to find out.
  if (queued.length > 4_096) return Number.POSITIVE_INFINITY;
  let bytes = conn.transport?.socket?.bufferedAmount ?? 0;
  for (const packet of queued) {
    const data = packet.data;
    bytes += typeof data === 'string' ? data.length : ((data as { byteLength?: number })?.byteLength ?? 0);
    if (bytes > cap) break;
  }
  return bytes;
}
