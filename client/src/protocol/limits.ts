// Every bound of the wire contract, in one place: the server, the client and the core read them from here.

/**
 * The wire contract's version: the join request and every mesh signal and ping carry it. Tabs and servers
 * of another version refuse each other with "reload" instead of misreading each other. Raise it on any
 * change an older build would misread.
 */
export const PROTOCOL_VERSION = 7;

export const LIMITS = {
  roomId: { min: 1, max: 64, pattern: /^[A-Za-z0-9_-]+$/ },
  name: { max: 32 },
  heartbeatMs: { min: 50, max: 5_000, default: 250 },
  timeoutMs: { min: 300, max: 60_000, default: 1_500 },
  /** timeoutMs must be at least this many heartbeats, so one lost heartbeat never looks like a crash. */
  timeoutHeartbeats: 3,
  stages: { min: 1, max: 100, nameMax: 48 },
  /** Bytes of one relayed peer message or signal payload. */
  payloadBytes: 16 * 1024,
  /**
   * Frames one `relay` event carries (a tab sends the frames of one turn of its loop together), and their
   * data's UTF-8 bytes in all: at most one payload's worth, so a batch is no larger a frame than one relay.
   */
  relayBatch: { frames: 32, bytes: 16 * 1024 },
  /**
   * What the server lets one connection send by default (RATE_LIMIT_*), in events (each relayed frame is one)
   * and bytes, a second and at once. A server tells its own in the join's answer.
   */
  relayBudget: { perSec: 400, burst: 800, bytesPerSec: 256 * 1024, bytesBurst: 1024 * 1024 },
  /** A refusal's text: the server cuts its own there, and a tab takes none longer (a person reads it). */
  refusalChars: 400,
  token: { length: 32 },
  /** A password room's verifier: 32 bytes, base64url without padding. */
  verifier: { length: 43 },
  /** Players one room may hold (the server's MAX_MEMBERS is at most this): a roster lists at most as many. */
  members: { max: 10_000 },
  /** ICE servers a deployment may configure (ICE_SERVERS), URLs per server, and characters per string. */
  iceServers: { max: 64, urls: 64, chars: 4_096 },
  /** Players an owner may remove from one room over its life (the roster lists them all). */
  removed: { max: 200 },
  /** Player IDs stay below this: far above any real room, and safe to add to without overflow. */
  playerId: { max: 2 ** 31 },
  /** IDs in one list of a peer message, and entries in one catch-up or promise. */
  idsPerList: 1000,
  entriesPerMessage: 64,
  /** Ages in ticks: a day of 10 ms ticks is far more than any timeout, and keeps junk bounded. */
  ageTicks: 8_640_000,
  /** Characters of one data-channel or relay frame: the relay's payload cap, so both paths agree. */
  frameChars: 16 * 1024,
  /**
   * App entries in the agreed log (room.propose), in UTF-8 bytes of JSON: one value, one log entry's values,
   * the values one player may have waiting, and the proposer's budget (a second). An entry's bound keeps
   * every core frame that carries one (accept, advance, report, leave) under a sealed relay frame.
   */
  app: {
    dataBytes: 1_024,
    opsPerEntry: 32,
    entryBytes: 4_096,
    pending: 64,
    /** Earlier IDs a page session remembers proposing under (each reload-free rejoin adds one). */
    names: 32,
    /** Runs of one page session's numbers under earlier IDs that a base keeps (core/app.ts AppBook). */
    earlierRuns: 8,
    perSec: 100,
    burst: 200,
    /** What a leader puts in the log from one sender, above the library's own budget so honest players never wait on it. */
    leaderPerSec: 150,
    leaderBurst: 300,
  },
  /**
   * UTF-8 bytes of entries (or values) one catch-up, leave or op message carries, at least one: with an
   * accepted entry beside them, a frame stays under the 11,000 bytes a sealed relay frame may hold.
   */
  historyBytes: 6_000,
  /**
   * Snapshots (room.snapshot): the app's state, in UTF-8 bytes of JSON; the whole base a late joiner is
   * sent (state, stage history, names, each page session's last number), sent in parts of at most
   * historyBytes; and the page sessions a base may list.
   */
  snapshot: { stateBytes: 64 * 1024, bytes: 128 * 1024, parts: 64, clients: 4_096 },
  /**
   * Entries a log holds past its snapshot before the app must compact it: propose refuses with log_full
   * beyond this (about 4,500 values of a kilobyte already fill a tab's sessionStorage).
   */
  logEntries: 20_000,
} as const;

export const DEFAULT_STAGES = ['Lobby', 'Round 1', 'Round 2', 'Round 3', 'Finished'];

/** Longest password accepted (characters); it never leaves the browser, so this is a UI bound only. */
export const PASSWORD_MAX = 256;

/**
 * The app's rooms: any join can create its room, so every password the app sends (typed, or from a link) is
 * at least this long. The library takes what passwordProblem allows.
 */
export const PASSWORD_MIN = 8;

/** Problems with a password typed or read from a link; null when usable. */
export function passwordProblem(password: string): string | null {
  if (password.length === 0) return 'password must not be empty';
  if ([...password].length > PASSWORD_MAX) return `password must be at most ${PASSWORD_MAX} characters`;
  return null;
}

/** passwordProblem, and the app's PASSWORD_MIN. */
export function roomPasswordProblem(password: string): string | null {
  if (password.length > 0 && [...password].length < PASSWORD_MIN)
    return `password must be at least ${PASSWORD_MIN} characters`;
  return passwordProblem(password);
}
