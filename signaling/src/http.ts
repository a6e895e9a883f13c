// Plain HTTP routes next to socket.io: health, metrics, and the built client (or the Vite dev middleware).

import { timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

/** A connect-style middleware, e.g. Vite's dev server in middleware mode. */
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/** The web's defaults for what the server answers. */
export interface WebOptions {
  /**
   * Where /metrics answers on this (public) port: 'off' (404; serve it on METRICS_PORT instead), a
   * bearer token it requires, or 'public' (anyone; for tests and private networks). Default 'off'.
   */
  metrics?: 'off' | 'public' | { token: string };
  /** Serve .map files if the build has them. Default false: a production build has none either. */
  sourceMaps?: boolean;
  /** The browser origin of the app (https://play.example): CSP's connect-src and HSTS follow it. */
  publicOrigin?: string;
}

export interface HttpRoutesOptions {
  /** Directory of the built client (index.html and assets); omit to serve no files. */
  staticDir?: string;
  /** Gets every request the routes below do not answer (dev: Vite). Takes precedence over staticDir. */
  fallback?: Middleware;
  registry: Registry;
  isShuttingDown: () => boolean;
  logger: Logger;
  web?: WebOptions;
  /** Whether the request came through a trusted proxy, whose X-Forwarded-Proto then counts. */
  isTrustedProxy?: (req: IncomingMessage) => boolean;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

/** Paths the single-page app owns: the lobby and every room link. */
const SPA_ROUTE = /^\/(?:r\/[^/]+\/?)?$/;

function send(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8') {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

const HOST_HEADER = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/**
 * The page may run only its own scripts, talk only to its own origin (and that origin's websocket),
 * and be framed by nobody. Styles: the built CSS file plus React's style properties (set through the
 * CSSOM, which style-src does not govern). Images: the favicon and the room link's QR code (a data: URL).
 */
export function contentSecurityPolicy(origin: string | undefined): string {
  let connect = "'self'";
  if (origin !== undefined) {
    const url = new URL(origin);
    const ws = url.protocol === 'https:' ? 'wss:' : 'ws:';
    connect = `'self' ${url.origin} ${ws}//${url.host}`;
  }
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${connect}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

async function regularFileSize(file: string): Promise<number | undefined> {
  try {
    const info = await stat(file);
    return info.isFile() ? info.size : undefined;
  } catch {
    return undefined;
  }
}

function decodePath(url: string): string | undefined {
  try {
    const pathname = new URL(url, 'http://localhost').pathname;
    const decoded = decodeURIComponent(pathname);
    return decoded.includes('\0') ? undefined : decoded;
  } catch {
    return undefined;
  }
}

export function createHttpRoutes(options: HttpRoutesOptions) {
  const root = options.staticDir === undefined ? undefined : path.resolve(options.staticDir);
  const web = options.web ?? {};
  const metricsAccess = web.metrics ?? 'off';

  function originOf(req: IncomingMessage): string | undefined {
    if (web.publicOrigin !== undefined) return web.publicOrigin;
    const host = req.headers.host;
    if (host === undefined || !HOST_HEADER.test(host)) return undefined;
    const origin = `${https(req) ? 'https' : 'http'}://${host}`;
    // The pattern lets through hosts no URL takes (port 99999, 1.2.3.4.5): those get 'self' alone, not a 500.
    return URL.canParse(origin) ? origin : undefined;
  }

  function https(req: IncomingMessage): boolean {
    if (web.publicOrigin !== undefined) return web.publicOrigin.startsWith('https:');
    if ((req.socket as { encrypted?: boolean }).encrypted) return true;
    const proto = req.headers['x-forwarded-proto'];
    return options.isTrustedProxy?.(req) === true && typeof proto === 'string' && proto.trim() === 'https';
  }

  /** On every answer. Dev (Vite) gets no script or connect rules: its HMR client runs inline scripts. */
  function securityHeaders(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('cross-origin-opener-policy', 'same-origin');
    res.setHeader(
      'content-security-policy',
      options.fallback ? "frame-ancestors 'none'" : contentSecurityPolicy(originOf(req)),
    );
    if (https(req)) res.setHeader('strict-transport-security', 'max-age=31536000');
  }

  function metricsAllowed(req: IncomingMessage): boolean {
    if (metricsAccess === 'public') return true;
    if (metricsAccess === 'off') return false;
    const given = Buffer.from(req.headers.authorization ?? '');
    const expected = Buffer.from(`Bearer ${metricsAccess.token}`);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  async function serveFile(req: IncomingMessage, res: ServerResponse, file: string, size: number) {
    const immutable = path.relative(root ?? '', file).startsWith(`assets${path.sep}`);
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': size,
      // Vite fingerprints everything under assets/; everything else (index.html) must revalidate.
      'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream = createReadStream(file);
    stream.on('error', (err) => {
      options.logger.warn({ err, file }, 'static file read failed');
      res.destroy();
    });
    stream.pipe(res);
  }

  async function serveStatic(req: IncomingMessage, res: ServerResponse, pathname: string) {
    if (!root) return send(res, 404, 'not found\n');
    if (!web.sourceMaps && pathname.endsWith('.map')) return send(res, 404, 'not found\n');
    const file = path.resolve(root, `.${path.posix.normalize(pathname)}`);
    if (file !== root && !file.startsWith(root + path.sep)) return send(res, 404, 'not found\n');
    const size = await regularFileSize(file);
    if (size !== undefined) return serveFile(req, res, file, size);
    if (SPA_ROUTE.test(pathname)) {
      const index = path.join(root, 'index.html');
      const indexSize = await regularFileSize(index);
      if (indexSize !== undefined) return serveFile(req, res, index, indexSize);
      return send(res, 503, 'the client is not built yet: run `npm run build`\n');
    }
    return send(res, 404, 'not found\n');
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const pathname = decodePath(req.url ?? '/');
    securityHeaders(req, res);
    if (pathname === undefined) return send(res, 400, 'bad request\n');

    if (pathname === '/healthz') {
      const shuttingDown = options.isShuttingDown();
      return send(
        res,
        shuttingDown ? 503 : 200,
        `${JSON.stringify({ status: shuttingDown ? 'shutting_down' : 'ok' })}\n`,
        'application/json; charset=utf-8',
      );
    }
    if (pathname === '/metrics') {
      if (!metricsAllowed(req)) return send(res, 404, 'not found\n');
      return send(res, 200, await options.registry.metrics(), options.registry.contentType);
    }
    if (options.fallback) {
      return options.fallback(req, res, (err) => {
        if (err) options.logger.error({ err }, 'dev middleware failed');
        if (!res.headersSent) send(res, err ? 500 : 404, err ? 'internal error\n' : 'not found\n');
      });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, 'method not allowed\n');
    }
    return serveStatic(req, res, pathname);
  }

  return (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      options.logger.error({ err, url: req.url }, 'http request failed');
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  };
}

/** A listener for METRICS_PORT: /metrics and nothing else, for a scraper on a private network. */
export function createMetricsRoutes(registry: Registry, logger: Logger) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const pathname = decodePath(req.url ?? '/');
    if (pathname !== '/metrics') return send(res, 404, 'not found\n');
    registry
      .metrics()
      .then((body) => send(res, 200, body, registry.contentType))
      .catch((err: unknown) => {
        logger.error({ err }, 'metrics failed');
        if (!res.headersSent) send(res, 500, 'internal error\n');
      });
  };
}
