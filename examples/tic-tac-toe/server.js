// The example's server: its own static files on a plain Node HTTP server, with Lockstep's signaling attached.

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname } from 'node:path';
import { createSignalingServer } from 'lockstep/server';

const dist = new URL('./dist/', import.meta.url);
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

const http = createServer(async (req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const file = path === '/' ? 'index.html' : path.slice(1);
  if (file.includes('..')) return res.writeHead(400).end();
  try {
    const body = await readFile(new URL(file, dist));
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
  } catch {
    res.writeHead(404).end('not found');
  }
});
// The default grace (15 s): a seat belongs to a player ID, which a reload keeps if it comes back within it.
createSignalingServer(http);
http.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`tic-tac-toe on http://127.0.0.1:${http.address().port}`);
});
