// The socket.io packet parser with checks made on the raw text, before JSON.parse sees it: how deep it
// nests, and only the packet types a client has a use for (no binary attachments: no Lockstep event carries
// any; no acknowledgements: the server never asks a client for one). A frame that fails closes its
// connection, as socket.io does for any malformed packet. Frame size is cut earlier still, by engine.io's
// maxHttpBufferSize.

import { Decoder, Encoder } from 'socket.io-parser';

/**
 * Arrays and objects a frame may open inside each other. The deepest legitimate frame is a signal:
 * [event, { to, data: { candidate: { … } } }] is 4 levels, so 16 leaves room and still bounds the
 * recursion that JSON.parse, schema checks and re-encoding for the recipient do per level.
 */
export const MAX_FRAME_DEPTH = 16;

/**
 * The deepest [ / { nesting of a JSON text, ignoring brackets inside strings. Linear, no allocation. A
 * string's body is skipped with indexOf (native), so a frame that is mostly one long string, as relays
 * and signals are, costs little more than the brackets around it.
 */
export function jsonDepth(text: string, stopAt = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  // The next backslash and quote at or after the scan, each found once and reused: looking them up again
  // per string or per escape would make many short strings, or many escapes, quadratic.
  let backslash = -1;
  let quote = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: find its closing quote, stepping over escaped characters.
      let end = i + 1;
      for (;;) {
        if (quote < end) quote = text.indexOf('"', end);
        if (quote < 0) return max; // unterminated: JSON.parse will refuse it
        if (backslash < end) backslash = text.indexOf('\\', end);
        if (backslash < 0) backslash = text.length;
        if (backslash > quote) {
          i = quote;
          break;
        }
        end = backslash + 2;
      }
    } else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > stopAt) return max;
      }
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return max;
}

/**
 * Where a packet's JSON starts, as socket.io-parser reads it: after the type digit and a namespace (`/…,`),
 * which may hold any character. A quote there, read as JSON, would hide the payload's brackets.
 */
export function payloadStart(frame: string): number {
  if (frame.charAt(1) !== '/') return 1;
  const comma = frame.indexOf(',', 1);
  return comma < 0 ? frame.length : comma + 1;
}

/** A frame the parser will not decode: socket.io closes its connection. */
export class RefusedFrameError extends Error {}

class CheckedDecoder extends Decoder {
  override add(obj: unknown): void {
    if (typeof obj !== 'string') throw new RefusedFrameError('binary frames are not accepted');
    // '5' and '6' are binary events and acks, whose attachments would follow as further frames.
    if (obj.startsWith('5') || obj.startsWith('6'))
      throw new RefusedFrameError('binary events are not accepted');
    // '3' answers an emit the server made with a callback, and it makes none; '4' is the server's to send.
    // socket.io would JSON-parse either and charge it to no budget (an ACK flood of 32 KB frames cost a core).
    if (obj.startsWith('3') || obj.startsWith('4'))
      throw new RefusedFrameError('acknowledgements and connect errors are not accepted from a client');
    if (jsonDepth(obj.slice(payloadStart(obj)), MAX_FRAME_DEPTH) > MAX_FRAME_DEPTH) {
      throw new RefusedFrameError(`frame nests deeper than ${MAX_FRAME_DEPTH} levels`);
    }
    super.add(obj);
  }
}

/** Pass as socket.io's `parser` option. */
export const checkedParser = { Encoder, Decoder: CheckedDecoder };
