// Node's `events` for simple-peer in the browser build (the `events` package, which
// browserify bundled into simplepeer.min.js, is not installed), as the base of our Duplex: a constructor
// (`EventEmitter.call(this)` works on it too), and what simple-peer and our adapter call: on, once,
// removeListener, emit (an unheard 'error' throws, as Node's does).
'use strict';

function EventEmitter() {
  this._events = new Map();
}

const list = (self, type) => {
  if (!self._events) self._events = new Map();
  let l = self._events.get(type);
  if (!l) {
    l = [];
    self._events.set(type, l);
  }
  return l;
};

const onceWrap = (self, type, fn) => {
  const w = function (...args) {
    self.removeListener(type, w);
    return fn.apply(this, args);
  };
  w.listener = fn;
  return w;
};

EventEmitter.prototype.on = function (type, fn) {
  list(this, type).push(fn);
  return this;
};
EventEmitter.prototype.once = function (type, fn) {
  return this.on(type, onceWrap(this, type, fn));
};
EventEmitter.prototype.removeListener = function (type, fn) {
  const l = this._events?.get(type);
  if (!l) return this;
  for (let i = l.length - 1; i >= 0; i--)
    if (l[i] === fn || l[i].listener === fn) {
      l.splice(i, 1);
      break;
    }
  if (l.length === 0) this._events.delete(type);
  return this;
};
EventEmitter.prototype.emit = function (type, ...args) {
  const l = this._events?.get(type);
  if (!l) {
    if (type === 'error') throw args[0] instanceof Error ? args[0] : new Error(`Unhandled error: ${args[0]}`);
    return false;
  }
  for (const fn of [...l]) fn.apply(this, args);
  return true;
};

module.exports = EventEmitter;
module.exports.EventEmitter = EventEmitter;
