// `buffer` for the browser build. simple-peer wraps a binary data-channel message as Buffer.from(arrayBuffer)
// (Lockstep's frames are text, so that is a peer sending what it should not, read as bytes and refused), and
// our randombytes reads random bytes as hex. The npm package was 7 KB gz of every page for those two calls.
'use strict';

class Buffer extends Uint8Array {
  static from(source) {
    return source instanceof ArrayBuffer ? new Buffer(source) : new Buffer(Uint8Array.from(source));
  }

  toString(encoding) {
    if (encoding === 'hex') return Array.from(this, (b) => b.toString(16).padStart(2, '0')).join('');
    return new TextDecoder().decode(this);
  }
}

exports.Buffer = Buffer;
