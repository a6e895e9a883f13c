// The process entry: the only place that reads the environment and listens on a port.

import { existsSync, realpathSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Logger, pino } from 'pino';
import { Counter } from 'prom-client';
import { LIMITS } from '../../client/src/protocol/limits.ts';
import { ConfigError, readConfig } from './config.ts';
import { createMetricsRoutes, type Middleware } from './http.ts';
import { connectRedis, type RedisBackend } from './redis.ts';
import { createSignalingServer, type SignalingServer } from './server.ts';

/** Dev mode plugs Vite in here; production serves the built client from STATIC_DIR. */
export interface Frontend {
  middleware: Middleware;
  close(): Promise<void>;
}

export interface MainOptions {
  frontend?: (httpServer: HttpServer) => Promise<Frontend>;
}

/** The longest URL the automation contract allows (LIMITS), percent-encoded, with room for the headers. */
export const MAX_REQUEST_HEAD_BYTES =
  LIMITS.stages.max * (LIMITS.stages.nameMax * 12 + 6) + LIMITS.name.max * 12 + 16 * 1024;

export async function main(options: MainOptions = {}): Promise<SignalingServer> {
  let config: ReturnType<typeof readConfig>;
  try {
    config = readConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  // Written in the background, so a reader that stalls holds up no room (past LOG_BUFFER_BYTES, lines are
  // dropped); a reader gone only ends the logging (pino's EPIPE filter). Our exits wait for the lines
  // (exitAfterLogs); pino's own flush at exit would retry a failed write forever (sonic-boom 4), so with stdout
  // a closed or stalled pipe (`npm start | head`, a log shipper gone) no exit, crash or SIGTERM ended the
  // process. It is off: a crash may lose the lines still being written rather than hang.
  const logStream = pino.destination({ dest: 1, sync: false, maxLength: LOG_BUFFER_BYTES });
  logStream.flushSync = () => {};
  const logger = pino({ level: config.LOG_LEVEL, base: { service: 'lockstep-signaling' } }, logStream);
  const exit = (code: number) => exitAfterLogs(logger, logStream, code);

  const admission = {
    maxSessionsPerIpPerRoom: config.MAX_SESSIONS_PER_IP_PER_ROOM,
    maxRoomsPerIp: config.MAX_ROOMS_PER_IP,
    maxRooms: config.MAX_ROOMS,
    graceTotalMs: config.GRACE_TOTAL_MS,
    reopenProtectMs: config.REOPEN_PROTECT_MS,
  };
  let redis: RedisBackend | undefined;
  if (config.REDIS_URL !== undefined) {
    try {
      redis = await connectRedis({
        url: config.REDIS_URL,
        prefix: config.REDIS_PREFIX,
        graceMs: config.GRACE_MS,
        maxMembers: config.MAX_MEMBERS,
        ...admission,
        nodeTtlMs: config.NODE_TTL_MS,
        lostHoldMs: config.RESTART_HOLD_MS,
        sweepIntervalMs: config.SWEEP_INTERVAL_MS,
        logger,
      });
    } catch (err) {
      logger.fatal({ err }, 'cannot connect to REDIS_URL');
      return await exit(1);
    }
  }

  // A room link may carry 100 stage names of 48 characters, percent-encoded UTF-8: up to about 58 KB of
  // request line, past Node's 16 KB default (431 to a link the app itself made).
  const httpServer = createServer({ maxHeaderSize: MAX_REQUEST_HEAD_BYTES });
  const frontend = options.frontend ? await options.frontend(httpServer) : undefined;
  const signaling = createSignalingServer(httpServer, {
    graceMs: config.GRACE_MS,
    maxMembers: config.MAX_MEMBERS,
    allowedOrigins: config.ALLOWED_ORIGINS,
    iceServers: config.ICE_SERVERS,
    ...admission,
    trustProxy: config.TRUST_PROXY,
    ...(config.PUBLIC_ORIGIN === undefined ? {} : { publicOrigin: config.PUBLIC_ORIGIN }),
    rateLimit: {
      perSecond: config.RATE_LIMIT_PER_SEC,
      burst: config.RATE_LIMIT_BURST,
      bytesPerSecond: config.RATE_LIMIT_BYTES_PER_SEC,
      bytesBurst: config.RATE_LIMIT_BYTES_BURST,
      strikes: config.RATE_LIMIT_STRIKES,
      strikeWindowMs: config.RATE_LIMIT_STRIKE_WINDOW_MS,
    },
    addressRateLimit: {
      perSecond: config.IP_RATE_LIMIT_PER_SEC,
      burst: config.IP_RATE_LIMIT_BURST,
      bytesPerSecond: config.IP_RATE_LIMIT_BYTES_PER_SEC,
      bytesBurst: config.IP_RATE_LIMIT_BYTES_BURST,
    },
    recipientBufferBytes: config.RECIPIENT_BUFFER_BYTES,
    roomJoinsPerSec: config.ROOM_JOINS_PER_SEC,
    roomJoinBurst: config.ROOM_JOIN_BURST,
    passwordThrottle: {
      address: { free: config.PASSWORD_ATTEMPTS_PER_IP, windowMs: config.PASSWORD_WINDOW_MS },
      room: { free: config.PASSWORD_ATTEMPTS_PER_ROOM, windowMs: config.PASSWORD_WINDOW_MS },
    },
    web: {
      metrics: config.METRICS_TOKEN === undefined ? 'off' : { token: config.METRICS_TOKEN },
      sourceMaps: config.SERVE_SOURCE_MAPS,
    },
    maxJoinsPerSocket: config.MAX_JOINS_PER_SOCKET,
    maxSocketsPerIp: config.MAX_SOCKETS_PER_IP,
    maxConnections: config.MAX_CONNECTIONS,
    pingIntervalMs: config.PING_INTERVAL_MS,
    pingTimeoutMs: config.PING_TIMEOUT_MS,
    shutdownReconnectMs: config.SHUTDOWN_RECONNECT_MS,
    // Redis keeps rooms across a node's restart: nothing to wait for (when it does not, it holds newcomers).
    restartHoldMs: redis ? 0 : config.RESTART_HOLD_MS,
    ...(config.ROOM_SECRET === undefined ? {} : { roomSecret: config.ROOM_SECRET }),
    processMetrics: true,
    logger,
    ...(redis ? { store: redis.store, adapter: redis.adapter, limiterRedis: redis.client } : {}),
    ...(frontend
      ? { fallback: frontend.middleware, sharedUpgrades: true }
      : { staticDir: config.STATIC_DIR }),
  });
  // Lines a stalled stdout made us drop (past LOG_BUFFER_BYTES) are nowhere else: at least count them.
  const droppedLogLines = new Counter({
    name: 'lockstep_log_lines_dropped_total',
    help: 'Log lines dropped because stdout did not take them in time.',
    registers: [signaling.registry],
  });
  logStream.on('drop', () => droppedLogLines.inc());

  let stopping = false;
  let finished = false;
  const finish = (code: number, line: () => void) => {
    if (finished) return;
    finished = true;
    line();
    void exit(code);
  };
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    // A stuck close must not keep an orchestrator waiting forever.
    setTimeout(() => finish(1, () => logger.error('shutdown timed out')), 10_000).unref();
    Promise.all([signaling.close().then(() => redis?.close()), frontend?.close()])
      .then(() => finish(0, () => logger.info('stopped')))
      .catch((err: unknown) => finish(1, () => logger.error({ err }, 'shutdown failed')));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));

  await listenOr(httpServer, config.PORT, config.HOST || undefined, 'PORT and HOST');
  let metricsServer: HttpServer | undefined;
  if (config.METRICS_PORT !== undefined) {
    metricsServer = createServer(createMetricsRoutes(signaling.registry, logger));
    await listenOr(
      metricsServer,
      config.METRICS_PORT,
      config.METRICS_HOST || '127.0.0.1',
      'METRICS_PORT and METRICS_HOST',
    );
    metricsServer.unref();
  }
  // Pages would get a 503 saying to build: say at start where the server looked.
  if (!frontend && !existsSync(path.join(config.STATIC_DIR, 'index.html')))
    logger.warn(
      { staticDir: config.STATIC_DIR },
      'no built client in STATIC_DIR: pages answer 503 until one is there',
    );
  const address = httpServer.address();
  logger.info(
    {
      address,
      mode: frontend ? 'dev' : 'production',
      staticDir: frontend ? undefined : config.STATIC_DIR,
      graceMs: config.GRACE_MS,
      maxMembers: config.MAX_MEMBERS,
      allowedOrigins: config.ALLOWED_ORIGINS,
      iceServers: config.ICE_SERVERS.length,
      metrics: metricsServer ? metricsServer.address() : config.METRICS_TOKEN ? 'token' : 'off',
      redis: redis ? { node: redis.store.nodeId, prefix: config.REDIS_PREFIX } : false,
    },
    'listening',
  );
  return signaling;
}

/** Log bytes held for a stdout that does not keep up; more are dropped rather than held. */
const LOG_BUFFER_BYTES = 8 * 1024 * 1024;

/** Exits once the log lines written so far are out, or after a second if stdout will not take them. */
function exitAfterLogs(
  logger: Logger,
  stream: ReturnType<typeof pino.destination>,
  code: number,
): Promise<never> {
  process.exitCode = code;
  // A line after end() would throw (the stream is closing): nothing more is logged.
  logger.level = 'silent';
  const exit = () => process.exit(code);
  stream.once('close', exit);
  stream.once('error', exit);
  setTimeout(exit, 1_000);
  stream.end();
  return new Promise<never>(() => {});
}

/** Listens, or exits naming the settings behind a port in use or a host that does not resolve. */
function listenOr(server: HttpServer, port: number, host: string | undefined, what: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const fail = (err: NodeJS.ErrnoException) => {
      console.error(
        `lockstep: cannot listen on ${host ?? '*'}:${port} (${err.code ?? err.message}): check ${what}`,
      );
      process.exit(1);
    };
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
}

// The real path, as import.meta.url is: run through a symlink, the two would differ and nothing would start.
const entry = process.argv[1];
if (entry && existsSync(entry) && import.meta.url === pathToFileURL(realpathSync(entry)).href) {
  await main();
}
