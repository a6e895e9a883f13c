// `randombytes` for the browser build: simple-peer asks it only for its peer and data-channel names.
'use strict';

// `buffer/`: the npm package simple-peer uses too (the slash says it is not Node's builtin).
const { Buffer } = require('buffer/');

module.exports = (size) => Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(size)).buffer);
