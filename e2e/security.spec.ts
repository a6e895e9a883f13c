import {
  expect,
  expectLeader,
  expectMesh,
  openPlayers,
  type Player,
  roomUrl,
  test,
  tid,
  uniqueRoom,
} from './helpers.ts';

/** CSP violations a page reports, whether it blocked a script, a style, a connection or a frame. */
async function recordViolations(p: Player): Promise<string[]> {
  const seen: string[] = [];
  p.page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) seen.push(msg.text());
  });
  await p.page.exposeFunction('__cspViolation', (what: string) => seen.push(what));
  await p.page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as unknown as { __cspViolation(w: string): void }).__cspViolation(
        `${e.violatedDirective} ${e.blockedURI}`,
      );
    });
  });
  return seen;
}

test('the built app runs under its strict CSP: theme script, styles and signaling all load', async ({
  browser,
  server,
  players,
}) => {
  const res = await fetch(`${server.url}/r/x`);
  const csp = res.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  // No inline script left in the page the CSP would block.
  expect(await res.text()).not.toMatch(/<script>(?!<\/script>)/);

  const room = uniqueRoom();
  const violations: string[][] = [];
  for (const name of ['p1', 'p2']) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const player = { name, context, page };
    players.push(player);
    // Recording from before the first byte of the page.
    violations.push(await recordViolations(player));
    await page.goto(roomUrl(server, room, name));
    await expect(tid(page, 'self-id')).toHaveText(/^\d+$/);
  }
  await expectLeader(players, 1);
  await expectMesh(players);
  for (const p of players) {
    // theme.js ran before the app.
    expect(await p.page.evaluate(() => document.documentElement.dataset.theme)).toMatch(/^(dark|light)$/);
  }
  expect(violations.flat()).toEqual([]);
});

test('a #k= link that meets a room without a password says so and offers a new protected room', async ({
  browser,
  server,
  players,
}) => {
  const room = uniqueRoom();
  // Someone creates the room first, without a password.
  players.push(...(await openPlayers(browser, server, room, 1)));
  const context = await browser.newContext();
  const page = await context.newPage();
  players.push({ name: 'Ann', context, page });
  await page.goto(
    `${server.url}/r/${room}?name=Ann&stages=Warm-up,Play#k=${encodeURIComponent('correct horse')}`,
  );
  await expect(tid(page, 'session-error')).toContainText('not the protected room');
  await expect(tid(page, 'password-unprotected')).toBeVisible();
  // Never a way in without the password.
  await expect(tid(page, 'password-none')).toHaveCount(0);
  await expect(tid(page, 'self-id')).toHaveCount(0);
  await tid(page, 'password-new-room').click();
  await expect(tid(page, 'self-id')).toHaveText('1');
  await expect(tid(page, 'encrypted')).toBeVisible();
  // The link's settings made the new room.
  await expect(tid(page, 'stage-name')).toHaveText('Warm-up');
  expect(page.url()).not.toContain(room);
  expect(await tid(page, 'room-link').inputValue()).toContain(`#k=${encodeURIComponent('correct horse')}`);
});

test('a share link too long for a QR code says so instead of drawing nothing', async ({
  browser,
  server,
  players,
}) => {
  // A password within the allowed 8–256 characters, of 3-byte characters: its link is far past a QR's capacity.
  const password = '密'.repeat(256);
  const context = await browser.newContext();
  const page = await context.newPage();
  players.push({ name: 'Ann', context, page });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${server.url}/r/${uniqueRoom()}?name=Ann#k=${encodeURIComponent(password)}`);
  await expect(tid(page, 'self-id')).toHaveText('1');
  await tid(page, 'share-toggle').click();
  await tid(page, 'toggle-qr').click();
  await expect(tid(page, 'qr-problem')).toHaveText('The link is too long for a QR code: copy it instead.');
  expect(errors).toEqual([]);
});

test('a link without a name asks for one, refuses a blank one, and keeps the link’s settings', async ({
  browser,
  server,
  players,
}) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  players.push({ name: 'Zoë', context, page });
  await page.goto(`${server.url}/r/${uniqueRoom()}?stages=Warm-up,Play&heartbeatMs=200&timeoutMs=1200`);
  // A Hangul filler is a letter to Unicode and draws as nothing: not a name.
  await tid(page, 'gate-name').fill('\u3164');
  await tid(page, 'gate-name').press('Enter');
  await expect(page.getByRole('alert')).toContainText('Enter a name');
  // 32 characters is the rule, whatever their UTF-16 length: the field keeps 32 emoji (it kept 16).
  await tid(page, 'gate-name').fill('😀'.repeat(32));
  await expect(tid(page, 'gate-name')).toHaveValue('😀'.repeat(32));
  await tid(page, 'gate-name').fill('Zoë');
  await tid(page, 'gate-name').press('Enter');
  await expect(tid(page, 'self-id')).toHaveText('1');
  await expect(tid(page, 'stage-name')).toHaveText('Warm-up');
  // Once joined, the spent settings leave the address bar; the name stays.
  await expect.poll(() => new URL(page.url()).search).toBe('?name=Zo%C3%AB');
});

test('the lobby refuses a new password shorter than 8 characters', async ({ browser, server, players }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  players.push({ name: 'Ann', context, page });
  await page.goto(`${server.url}/`);
  await tid(page, 'lobby-name').fill('Ann');
  await tid(page, 'lobby-password').fill('short');
  await tid(page, 'lobby-create').click();
  await expect(page.getByText(/at least 8 characters/)).toBeVisible();
  await expect(tid(page, 'self-id')).toHaveCount(0);
  await tid(page, 'lobby-password').fill('long enough');
  await tid(page, 'lobby-create').click();
  await expect(tid(page, 'self-id')).toHaveText('1');
  await expect(tid(page, 'encrypted')).toBeVisible();
});

test('devtools whose script cannot load (offline, or a redeploy removed it) leave the room playable', async ({
  browser,
  server,
  players,
}) => {
  // Every script the page asks for after its first load fails: the devtools' chunk is one.
  const html = await (await fetch(`${server.url}/`)).text();
  const initial = new Set([...html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.js)"/g)].map((m) => m[1]!));
  expect(initial.size).toBeGreaterThan(0);
  const context = await browser.newContext();
  await context.route(/\/assets\/.+\.js$/, (route) =>
    initial.has(new URL(route.request().url()).pathname) ? route.continue() : route.abort(),
  );
  const page = await context.newPage();
  players.push({ name: 'Ann', context, page });
  await page.goto(roomUrl(server, uniqueRoom(), 'Ann'));
  await expect(tid(page, 'devtools-failed')).toContainText('could not load');
  await expect(tid(page, 'visualizer')).toHaveCount(0);
  await expect(tid(page, 'leader-id')).toHaveText('1');
  await tid(page, 'done-button').click();
  await expect(tid(page, 'stage')).toHaveText('1');
});
