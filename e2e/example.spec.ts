// examples/planning-poker from a fresh copy, built only against the packed library (npm pack, then an
// install of the tarball), served by its own Node server with lockstep/server attached.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';

/** Runs a step, timed; a failed command's own output is the error (execFileSync's names only the command). */
function timed<T>(what: string, fn: () => T): T {
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
const devEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_ENV'));

/**
 * A child process's output, read once: `saw(re)` resolves with the first match in everything it printed, or
 * rejects when the process exits first. Its stderr goes to the test's log.
 */
function reader(proc: ChildProcess, what: string): (re: RegExp) => Promise<string> {
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

test('planning poker, built from the npm pack tarball, plays a round in two tabs and a Node bot', async ({
  browser,
}) => {
  test.setTimeout(300_000);
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-poker-'));
  let server: ChildProcess | undefined;
  let bot: ChildProcess | undefined;
  try {
    cpSync('examples/planning-poker', dir, {
      recursive: true,
      filter: (src) => !/node_modules|[/\\]dist|\.tgz$|package-lock/.test(src),
    });
    timed('npm pack (build:lib)', () =>
      execFileSync('npm', ['pack', '--pack-destination', dir], { stdio: 'pipe', env: devEnv }),
    );
    const tarball = readdirSync(dir).find((f) => /^lockstep-.*\.tgz$/.test(f));
    expect(tarball).toBeDefined();
    renameSync(join(dir, tarball!), join(dir, 'lockstep.tgz'));
    // From npm's cache where it can: this repository's npm ci fetched every package the example needs. Not
    // --offline: npm ci caches the registry's answers under other request headers than install asks with,
    // so on a fresh machine --offline failed even for react.
    timed('npm install of the tarball', () =>
      execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
        cwd: dir,
        stdio: 'pipe',
        env: devEnv,
      }),
    );
    timed('tsc and vite build', () =>
      execFileSync('npm', ['run', 'build'], { cwd: dir, stdio: 'pipe', env: devEnv }),
    );
    const proc = spawn('node', ['server.js'], { cwd: dir, env: { ...process.env, PORT: '0' } });
    server = proc;
    const url = await reader(proc, "the example's server")(/http:\/\/\S+/);
    // One after the other, so Ada is player 1.
    const pages = [];
    for (const [i, name] of ['Ada', 'Bob'].entries()) {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${url}/?room=poker1&name=${name}`);
      await expect(page.getByTestId('me')).toHaveText(String(i + 1));
      pages.push(page);
    }
    const [ada, bob] = pages as [(typeof pages)[0], (typeof pages)[0]];
    // The SDK's Node bot recipe, from the same tarball, with @roamhq/wrtc: player 3, votes 3, is Done.
    const botProc = spawn('node', ['bot.js', url, 'poker1', '3'], { cwd: dir, env: devEnv });
    bot = botProc;
    const botExit = new Promise<number | string | null>((resolve) =>
      botProc.on('exit', (code, signal) => resolve(code ?? signal)),
    );
    const botSaw = reader(botProc, 'bot');
    await botSaw(/joined poker1 as player 3/);
    for (const p of pages) {
      await expect(p.locator('[data-testid="player"][data-state="direct"]')).toHaveCount(2);
      await expect(p.getByTestId('leader')).toHaveText('1');
    }
    await ada.getByTestId('card-5').click();
    await expect(bob.getByTestId('stage')).toHaveText('Vote');
    await bob.getByTestId('card-8').click();
    for (const p of pages) {
      await expect(p.getByTestId('stage')).toHaveText('Reveal');
      await expect(p.getByTestId('vote-1')).toHaveText('5');
      await expect(p.getByTestId('vote-2')).toHaveText('8');
      await expect(p.getByTestId('vote-3')).toHaveText('3');
    }
    await botSaw(/stage 1 \(Reveal\)/);
    // Ctrl-C: the bot leaves for good, and the others count the room without it.
    botProc.kill('SIGINT');
    expect(await botExit).toBe(0);
    for (const p of pages) await expect(p.locator('[data-testid="player"]')).toHaveCount(2);
    for (const p of pages) await p.context().close();
  } finally {
    bot?.kill('SIGKILL');
    server?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
