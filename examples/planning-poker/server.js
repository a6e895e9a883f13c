// The example's server: its own static files on a plain Node HTTP server, with Lockstep's signaling attached.

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSignalingServer } from 'lockstep/server';

const dist = fileURLToPath(new URL('./dist/', import.meta.url));
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

const http = createServer(async (req, res) => {
  // Resolved, then checked to be inside dist: a path like `/.//etc/passwd` passes any check of its text.
  let file;
  try {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    file = resolve(dist, `.${path === '/' ? '/index.html' : path}`);
  } catch {
    return res.writeHead(400).end();
  }
  if (!file.startsWith(dist)) return res.writeHead(404).end('not found');
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
  } catch {
    res.writeHead(404).end('not found');
  }
});
createSignalingServer(http, { graceMs: 5_000 });
http.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`planning poker on http://127.0.0.1:${http.address().port}`);
});
