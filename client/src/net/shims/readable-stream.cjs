// `readable-stream` for the browser build: simple-peer uses only its Duplex (`class Peer extends stream.Duplex`).
// The package's browser entry also loads Transform, PassThrough and pipeline, which a CJS bundle cannot shake.
'use strict';

exports.Duplex = require('readable-stream/lib/_stream_duplex.js');
