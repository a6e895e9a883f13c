// `readable-stream` for the browser build: simple-peer's Peer extends its Duplex, and Lockstep treats a Peer as an
// event emitter only (on 'data', send(), destroy()); it never writes, pipes or reads it as a stream. The
// package's Duplex pulled in Readable, Writable and Buffer: 18 KB gz of every page. This one keeps what
// simple-peer's own code touches: push() of a message or of the end, end(), and the two state flags its
// destroy reads (nothing calls write(), so its _write is never reached). A pushed message goes to the 'data'
// listeners there are at that moment (Lockstep's adapter listens from the start), with no buffering for a
// reader that comes later.
'use strict';

const EventEmitter = require('./events.cjs');

class Duplex extends EventEmitter {
  constructor(opts) {
    super();
    this._readableState = { ended: false };
    this._writableState = { finished: false };
    this.readable = true;
    this.writable = true;
    this._allowHalfOpen = opts?.allowHalfOpen !== false;
  }

  push(chunk) {
    if (chunk !== null) {
      this.emit('data', chunk);
      return true;
    }
    if (this._readableState.ended) return false;
    this._readableState.ended = true;
    queueMicrotask(() => {
      this.emit('end');
      // As Node's Duplex: without half-open, the end of what comes in ends what goes out.
      if (!this._allowHalfOpen) this.end();
    });
    return false;
  }

  end() {
    if (this._writableState.finished) return this;
    this._writableState.finished = true;
    queueMicrotask(() => this.emit('finish'));
    return this;
  }
}

exports.Duplex = Duplex;
