// `debug` for the browser build: simple-peer logs through it, and nothing here ever enables its output.
'use strict';

const off = () => {};
off.enabled = false;
module.exports = () => off;
