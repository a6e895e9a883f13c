// `randombytes` for the browser build: simple-peer asks it only for its peer and data-channel names.
'use strict';

const { Buffer } = require('./buffer.cjs');

module.exports = (size) => Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(size)).buffer);
