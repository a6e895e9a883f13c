// Every figure the bench reports, in the order of docs/benchmarks.md's table: which go into the row, and the
// goals. The table's columns and the goal checks are both derived from this one list.

import type { Dist } from './lib/stats.ts';
import type { AdvanceResult } from './parts/advance.ts';
import type { BundleResult } from './parts/bundle.ts';
import type { CapacityResult } from './parts/capacity.ts';
import type { FailoverResult } from './parts/failover.ts';
import type { LogResult } from './parts/log.ts';
import type { MeshResult } from './parts/mesh.ts';
import type { RestResult } from './parts/rest.ts';
import type { RoomResult } from './parts/room.ts';
import type { SimulatorResult } from './parts/simulator.ts';

export type Results = Partial<
  BundleResult &
    SimulatorResult &
    CapacityResult &
    AdvanceResult &
    LogResult &
    MeshResult &
    RestResult &
    FailoverResult &
    RoomResult
>;
export type Key = keyof Results;

interface KeySpec {
  key: Key;
  /** A column of the results table. */
  row?: true;
  goal?: { text: string; ok: (r: Results) => boolean };
}

/** A number, or a distribution's median. */
export const num = (r: Results, k: Key): number => {
  const v = r[k] as number | Dist | undefined;
  return typeof v === 'number' ? v : v && typeof v === 'object' ? v.median : Number.NaN;
};
const atMost = (key: Key, bound: number, what = 'median'): KeySpec => ({
  key,
  row: true,
  goal: { text: `${what} ≤ ${bound}`, ok: (r) => num(r, key) <= bound },
});

const atLeast = (key: Key, bound: number, what = 'median'): KeySpec => ({
  key,
  row: true,
  goal: { text: `${what} ≥ ${bound}`, ok: (r) => num(r, key) >= bound },
});

export const KEYS: KeySpec[] = [
  { key: 'crashFailoverMs', row: true },
  atMost('crashFailoverRatio', 1.2),
  atMost('closeFailoverMs', 200),
  { key: 'closeRequestFailoverMs', row: true },
  { key: 'advanceP50Ms', row: true },
  {
    key: 'advanceP99Ms',
    row: true,
    goal: {
      text: '≤ 3 × rttP99Ms and ≤ 50',
      ok: (r) => num(r, 'advanceP99Ms') <= Math.min(50, 3 * num(r, 'rttP99Ms')),
    },
  },
  { key: 'rttP99Ms', row: true },
  { key: 'logProposeP50Ms', row: true },
  { key: 'logProposeP99Ms', row: true },
  { key: 'logRttP99Ms', row: true },
  atMost('logProposeRatio', 3, 'propose→commit p99 ÷ data-channel RTT p99,'),
  atLeast('logValuesPerSec', 200, 'app values committed a second in a room of 8,'),
  { key: 'logValuesPerEntry' },
  { key: 'logCatchUpEntries', row: true },
  { key: 'logCatchUpValues' },
  { key: 'logCatchUpNoSnapshotMs', row: true },
  { key: 'logCatchUpJoinMs' },
  { key: 'logCatchUpSyncs' },
  { key: 'logSnapshotBytes', row: true },
  { key: 'logSnapshotBaseBytes' },
  { key: 'logCatchUpSnapshotMs', row: true },
  {
    key: 'logCatchUpSnapshotRatio',
    row: true,
    goal: {
      text: "a newcomer's catch-up from a snapshot ÷ without, < 1",
      ok: (r) => num(r, 'logCatchUpSnapshotRatio') < 1,
    },
  },
  { key: 'logCatchUpSnapshotJoinMs' },
  { key: 'logCatchUpSnapshotEntries' },
  { key: 'logCatchUpSnapshotValues' },
  { key: 'logCatchUpSnapshotSyncs' },
  { key: 'meshFormationMs', row: true },
  { key: 'rawMeshFormationMs', row: true },
  atMost('meshFormationRatio', 1.25, 'app ÷ raw simple-peer, medians,'),
  { key: 'bareMeshFormationMs', row: true },
  { key: 'meshFormationAppVsBare', row: true },
  { key: 'meshFormationBareVsRaw', row: true },
  { key: 'meshFormationCpuMs', row: true },
  { key: 'rawMeshFormationCpuMs', row: true },
  { key: 'bareMeshFormationCpuMs' },
  { key: 'baselineMeshFormationMs' },
  { key: 'baselineMeshFormationCpuMs' },
  { key: 'meshFormationDomUpdates', row: true },
  { key: 'meshFormationCpuSplit' },
  { key: 'rawMeshFormationCpuSplit' },
  { key: 'bareMeshFormationCpuSplit' },
  { key: 'baselineMeshFormationDomUpdates' },
  { key: 'restCpuMsPerTabSec', row: true },
  { key: 'bareRestCpuMsPerTabSec', row: true },
  atMost('restCpuRatio', 2, 'CPU of a settled room, app ÷ bench/bare, medians,'),
  { key: 'restRoomsFailed' },
  { key: 'restCpuSplit' },
  { key: 'bareRestCpuSplit' },
  { key: 'baselineRestCpuMsPerTabSec' },
  { key: 'baselineRestCpuSplit' },
  { key: 'room32LeaderMs', row: true },
  {
    key: 'room32FailoverRatio',
    row: true,
    goal: {
      text: 'median ≤ 1.5, every failover settled within 20 s',
      ok: (r) => num(r, 'room32FailoverRatio') <= 1.5 && (r.room32FailoversUnsettled?.length ?? 0) === 0,
    },
  },
  { key: 'room32FailoversUnsettled' },
  { key: 'heartbeatMsgsPerPeerPerSec', row: true },
  { key: 'signalingSockets', row: true },
  atMost('signalingJoinP99Ms', 100, 'p99'),
  atMost('signalingFloodJoinP99Ratio', 2, 'honest join p99 under a relay flood ÷ quiet,'),
  atMost('signalingFloodHealthP99Ratio', 2, '/healthz p99 under the flood ÷ quiet,'),
  { key: 'signalingFloodHealthMaxMs', row: true },
  atMost('signalingRssMb', 512, 'RSS'),
  atMost('bytesPerConnVsSocketio', 1.1, 'RSS per connection ÷ bare socket.io'),
  { key: 'bytesPerConnVsPeerjs', row: true },
  atMost('bundleGzipKb', 150, 'what a page load fetches, gzipped,'),
  { key: 'bundleLazyGzipKb', row: true },
  { key: 'bundleTotalGzipKb', row: true },
  atMost('libGzipKb', 60, 'the client entry without React, gzipped,'),
  { key: 'simSchedulesPerSecPerThread', row: true },
];
