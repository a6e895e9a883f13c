// The library's one error class. `code` is stable; `message` is for people.

export type LockstepErrorCode =
  /** An option or argument is invalid; the message lists every problem. */
  | 'bad_argument'
  /** The signaling server could not be reached before the join timed out. */
  | 'unreachable'
  /** Connected, but not joined within the join's timeout (e.g. the server kept answering `rate_limited`). */
  | 'timeout'
  /** The join's AbortSignal fired. */
  | 'aborted'
  /** The room holds as many players as the server allows. */
  | 'room_full'
  /** Wrong or missing password, or a password given for a room that has none. */
  | 'bad_password'
  /** The room's owner removed this player (this storage remembers it). */
  | 'removed'
  /** Another tab or process resumed this player's session. */
  | 'replaced'
  /**
   * Our server speaks another protocol version than this copy of the library: reload the page
   * (or update the library, or wait for the server's update, as the message says).
   */
  | 'outdated'
  /** This address holds as many players or rooms as the server allows one address. */
  | 'address_limit'
  /** The server holds as many rooms as it may. */
  | 'capacity'
  /** Only the room's owner may do that. */
  | 'not_owner'
  /** Not in a room (before the join, or after leaving). */
  | 'not_joined'
  /** An app message over the size limit. */
  | 'too_large'
  /** More app messages than every receiver accepts from one sender (500 a second, 1,000 at once). */
  | 'rate_limited'
  /** A proposal could not reach any leader in time (no quorum): it was taken back and will never commit. */
  | 'no_quorum'
  /** Another value took this proposal's number in the log (someone replayed this page's client ID): never commits. */
  | 'superseded'
  /** The log holds LIMITS.logEntries entries since its last snapshot: the app must take one (room.snapshot). */
  | 'log_full'
  /** The server refused for another reason; the message says which. */
  | 'refused';

export class LockstepError extends Error {
  override readonly name = 'LockstepError';
  constructor(
    readonly code: LockstepErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const SAME = new Set<string>([
  'room_full',
  'bad_password',
  'removed',
  'replaced',
  'outdated',
  'address_limit',
  'capacity',
  'not_owner',
  'not_joined',
  'too_large',
]);

/** A server refusal's code as one of ours. */
export function fromServerCode(code: string | null | undefined): LockstepErrorCode {
  if (code && SAME.has(code)) return code as LockstepErrorCode;
  if (code === 'bad_request') return 'bad_argument';
  return 'refused';
}
