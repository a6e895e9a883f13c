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

test('planning poker, built from the npm pack tarball, plays a round in two tabs', async ({ browser }) => {
  test.setTimeout(300_000);
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-poker-'));
  let server: ChildProcess | undefined;
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
    // Offline: npm ci of this repository cached every package the example needs.
    timed('npm install of the tarball', () =>
      execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
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
    const url = await new Promise<string>((resolve, reject) => {
      proc.stdout?.on('data', (d) => {
        const m = /http:\/\/\S+/.exec(String(d));
        if (m) resolve(m[0]);
      });
      proc.stderr?.on('data', (d) => console.log(`example server: ${d}`));
      proc.on('exit', (code) => reject(new Error(`the example's server exited (${code})`)));
    });
    // One after the other, so Ada is player 1.
    const pages = [];
    for (const [i, name] of ['Ada', 'Bob'].entries()) {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${url}/?room=poker1&name=${name}`);
      await expect(page.getByTestId('me')).toHaveText(String(i + 1));
      pages.push(page);
    }
    const [ada, bob] = pages as [(typeof pages)[0], (typeof pages)[0]];
    for (const p of pages) {
      await expect(p.locator('[data-testid="player"][data-state="direct"]')).toHaveCount(1);
      await expect(p.getByTestId('leader')).toHaveText('1');
    }
    await ada.getByTestId('card-5').click();
    await expect(bob.getByTestId('stage')).toHaveText('Vote');
    await bob.getByTestId('card-8').click();
    for (const p of pages) {
      await expect(p.getByTestId('stage')).toHaveText('Reveal');
      await expect(p.getByTestId('vote-1')).toHaveText('5');
      await expect(p.getByTestId('vote-2')).toHaveText('8');
    }
    for (const p of pages) await p.context().close();
  } finally {
    server?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
