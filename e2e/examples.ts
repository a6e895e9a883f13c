// The example apps (examples/*), each from a fresh copy built only against the packed library: npm pack once
// per worker (a worker fixture, so every example spec in a run shares one tarball), then per test an install
// of the tarball into a temporary copy, its build, and its own Node server with lockstep/server attached.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test as base, expect } from '@playwright/test';

/** Runs a step, timed; a failed command's own output is the error (execFileSync's names only the command). */
export function timed<T>(what: string, fn: () => T): T {
  const started = Date.now();
  let out: T;
  try {
    out = fn();
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: unknown; stderr?: unknown };
    throw new Error(`example: ${what} failed\n${String(stdout ?? '')}\n${String(stderr ?? '')}`.trim());
  }
  console.log(`example: ${what} in ${Date.now() - started} ms`);
  return out;
}

// Global setup's builds leave NODE_ENV=production for the workers, and npm would then skip the example's
// devDependencies (TypeScript, Vite): its commands get the environment a developer's shell has.
export const devEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_ENV'));

/**
 * A child process's output, read once: `saw(re)` resolves with the first match in everything it printed, or
 * rejects when the process exits first. Its stderr goes to the test's log.
 */
export function reader(proc: ChildProcess, what: string): (re: RegExp) => Promise<string> {
  let seen = '';
  const waiting = new Set<{ re: RegExp; resolve: (s: string) => void; reject: (e: Error) => void }>();
  const check = () => {
    for (const w of waiting) {
      const m = w.re.exec(seen);
      if (m) {
        waiting.delete(w);
        w.resolve(m[0]);
      }
    }
  };
  proc.stdout?.on('data', (d) => {
    seen += String(d);
    check();
  });
  proc.stderr?.on('data', (d) => console.log(`${what}: ${d}`));
  let exited: Error | null = null;
  proc.on('exit', (code, signal) => {
    exited = new Error(`${what} exited (${code ?? signal}):\n${seen}`);
    for (const w of waiting) w.reject(exited);
    waiting.clear();
  });
  return (re) =>
    new Promise((resolve, reject) => {
      const m = re.exec(seen);
      if (m) return resolve(m[0]);
      if (exited) return reject(exited);
      waiting.add({ re, resolve, reject });
    });
}

/** An example app, installed from the tarball, built and served. */
export interface Example {
  /** The temporary copy it was built in (the example's own scripts run from here). */
  dir: string;
  /** Its server's origin, e.g. `http://127.0.0.1:41234`. */
  url: string;
}

/** Copies `examples/<name>`, installs the tarball into the copy, builds it and starts its server. */
async function startExample(name: string, tarball: string, cleanup: (() => void)[]): Promise<Example> {
  const dir = mkdtempSync(join(tmpdir(), `lockstep-${name}-`));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(`examples/${name}`, dir, {
    recursive: true,
    filter: (src) => !/node_modules|[/\\]dist|\.tgz$|package-lock/.test(src),
  });
  copyFileSync(tarball, join(dir, 'lockstep.tgz'));
  // From npm's cache where it can: this repository's npm ci fetched every package the example needs. Not
  // --offline: npm ci caches the registry's answers under other request headers than install asks with,
  // so on a fresh machine --offline failed even for react.
  timed(`npm install of the tarball (${name})`, () =>
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
      cwd: dir,
      stdio: 'pipe',
      env: devEnv,
    }),
  );
  timed(`tsc and vite build (${name})`, () =>
    execFileSync('npm', ['run', 'build'], { cwd: dir, stdio: 'pipe', env: devEnv }),
  );
  const server = spawn('node', ['server.js'], { cwd: dir, env: { ...process.env, PORT: '0' } });
  cleanup.unshift(() => server.kill());
  const url = await reader(server, `${name}'s server`)(/http:\/\/\S+/);
  await servesOnlyItsBuild(url);
  return { dir, url };
}

/** What developers copy must not serve the host's files: paths that reach out of `dist` are not found. */
async function servesOnlyItsBuild(url: string): Promise<void> {
  const { hostname, port } = new URL(url);
  for (const path of [
    '/.//etc/passwd',
    '/%2e//etc/passwd',
    '/%2e%2e/%2e%2e/package.json',
    '/..%2fserver.js',
  ]) {
    const status = await new Promise<number | undefined>((resolve, reject) =>
      get({ hostname, port, path }, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).on('error', reject),
    );
    expect(status, `GET ${path}`).toBe(404);
  }
}

export const test = base.extend<{ example: (name: string) => Promise<Example> }, { lockstepTarball: string }>(
  {
    /** `npm pack` of the repository (its prepack builds the library), once per worker. */
    lockstepTarball: [
      // biome-ignore lint/correctness/noEmptyPattern: Playwright fixtures must destructure their dependencies.
      async ({}, use) => {
        const dir = mkdtempSync(join(tmpdir(), 'lockstep-pack-'));
        try {
          timed('npm pack (build:lib)', () =>
            execFileSync('npm', ['pack', '--pack-destination', dir], { stdio: 'pipe', env: devEnv }),
          );
          const tarball = readdirSync(dir).find((f) => /^lockstep-.*\.tgz$/.test(f));
          expect(tarball, 'npm pack wrote no lockstep-*.tgz').toBeDefined();
          await use(join(dir, tarball!));
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
      { scope: 'worker', timeout: 240_000 },
    ],
    /** Starts examples for this test; their servers stop and their copies go after it. */
    example: async ({ lockstepTarball }, use) => {
      const cleanup: (() => void)[] = [];
      try {
        await use((name) => startExample(name, lockstepTarball, cleanup));
      } finally {
        for (const c of cleanup) c();
      }
    },
  },
);

export { expect };
