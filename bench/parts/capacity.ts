// Signaling capacity and memory per connection: bench/lib/capacity.ts in a child (it needs a raised
// descriptor limit), Lockstep's server beside a bare socket.io server and PeerJS's in the same run.

import { spawn } from 'node:child_process';
import type { CapacityOut } from '../lib/capacity.ts';
import { type Part, root } from '../lib/context.ts';
import { round } from '../lib/stats.ts';

export interface CapacityResult {
  signalingSockets: number;
  signalingJoinP50Ms: number;
  signalingJoinP99Ms: number;
  /**
   * Honest join p99 while one address floods relays, and on the quiet server, over all rounds; the ratio
   * (goal ≤ 2) is the median round's flooded p99 ÷ quiet p99.
   */
  signalingQuietJoinP99Ms: number;
  signalingFloodJoinP99Ms: number;
  signalingFloodJoinP99Ratio: number;
  /** /healthz p99 in the quiet and flooded phases, the median round's ratio (goal ≤ 2), and the slowest answer. */
  signalingQuietHealthP99Ms: number;
  signalingFloodHealthP99Ms: number;
  signalingFloodHealthP99Ratio: number;
  signalingFloodHealthMaxMs: number;
  /** Relays the attacker sent during the flood: a flood too weak to matter proves nothing. */
  signalingFloodRelays: number;
  signalingRssMb: number;
  signalingCpuMsPerJoin: number;
  bytesPerConn: number;
  heapBytesPerConn: number;
  socketioBytesPerConn: number;
  socketioHeapBytesPerConn: number;
  /** RSS growth per joined connection, Lockstep ÷ a bare socket.io server (the goal). */
  bytesPerConnVsSocketio: number;
  heapPerConnVsSocketio: number;
  peerjsSockets: number;
  peerjsRssMb: number;
  peerjsBytesPerConn: number;
  peerjsHeapBytesPerConn: number;
  /** A reference, not a goal: PeerJS keeps a bare `ws` socket. */
  bytesPerConnVsPeerjs: number;
}

function runCapacity(sockets: number): Promise<CapacityOut> {
  // 2 × sockets descriptors (client and server ends) are needed: raise the soft limit to the hard one.
  return new Promise((resolve, reject) => {
    const c = spawn(
      'bash',
      [
        '-c',
        'ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"',
        process.execPath,
        '--import',
        'tsx',
        'bench/lib/capacity.ts',
        String(sockets),
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    c.stdout.on('data', (d) => {
      out += String(d);
    });
    const t = setTimeout(() => c.kill('SIGKILL'), 300_000);
    c.on('exit', (code) => {
      clearTimeout(t);
      if (code !== 0) return reject(new Error(`capacity bench exited ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as CapacityOut);
      } catch (err) {
        reject(err);
      }
    });
  });
}

export const capacity: Part<CapacityResult> = {
  name: 'capacity',
  async run(ctx) {
    const { lockstep: l, socketio: s, peerjs: p } = await runCapacity(ctx.n.sockets);
    return {
      signalingSockets: l.sockets,
      signalingJoinP50Ms: round(l.joinP50Ms),
      signalingJoinP99Ms: round(l.joinP99Ms),
      signalingQuietJoinP99Ms: round(l.quietJoinP99Ms),
      signalingFloodJoinP99Ms: round(l.floodJoinP99Ms),
      signalingFloodJoinP99Ratio: round(l.floodJoinP99Ratio, 2),
      signalingQuietHealthP99Ms: round(l.quietHealthP99Ms),
      signalingFloodHealthP99Ms: round(l.floodHealthP99Ms),
      signalingFloodHealthP99Ratio: round(l.floodHealthP99Ratio, 2),
      signalingFloodHealthMaxMs: round(l.floodHealthMaxMs),
      signalingFloodRelays: l.floodRelays,
      signalingRssMb: round(l.rssMb),
      signalingCpuMsPerJoin: round(l.cpuMs / l.sockets, 3),
      bytesPerConn: Math.round(l.bytesPerConn),
      heapBytesPerConn: Math.round(l.heapPerConn),
      socketioBytesPerConn: Math.round(s.bytesPerConn),
      socketioHeapBytesPerConn: Math.round(s.heapPerConn),
      bytesPerConnVsSocketio: round(l.bytesPerConn / s.bytesPerConn, 2),
      heapPerConnVsSocketio: round(l.heapPerConn / s.heapPerConn, 2),
      peerjsSockets: p.sockets,
      peerjsRssMb: round(p.rssMb),
      peerjsBytesPerConn: Math.round(p.bytesPerConn),
      peerjsHeapBytesPerConn: Math.round(p.heapPerConn),
      bytesPerConnVsPeerjs: round(l.bytesPerConn / p.bytesPerConn, 2),
    };
  },
};
