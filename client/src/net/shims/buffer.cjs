// `buffer` for the browser build. simple-peer wraps a binary data-channel message as Buffer.from(arrayBuffer)
// (Lockstep's frames are text, so that is a peer sending what it should not, read as bytes and refused), and
// our randombytes reads random bytes as hex. The npm package was 7 KB gz of every page for those two calls.
'use strict';

class Buffer extends Uint8Array {
  static from(source) {
    if (source instanceof ArrayBuffer) return new Buffer(source);
    if (typeof source === 'string') return new Buffer(new TextEncoder().encode(source).buffer);
    return new Buffer(Uint8Array.from(source));
  }

  toString(encoding = 'utf8') {
    if (encoding === 'hex') return Array.from(this, (b) => b.toString(16).padStart(2, '0')).join('');
    if (encoding === 'utf8' || encoding === 'utf-8') return new TextDecoder().decode(this);
    throw new Error(`Buffer shim: no ${encoding} encoding (client/src/net/shims/buffer.cjs)`);
  }
}

exports.Buffer = Buffer;
