// Integrations in the web client, in a real browser (Debian's chromium driven by playwright-core),
// against a node the Rust side started (BASE_URL). An admin switches personal access tokens on in the
// system settings; Bob creates a token on the Integrations page, the token works from outside the
// browser and stops working once revoked there; Alice makes a bot and gives it a token; an incoming
// webhook made on the page takes a Slack payload from outside, which Bob sees rendered with its
// attachment; a slash command served by this script answers Alice alone. Screenshots go to
// SCREENSHOT_DIR. Prints `RESULT {...}` and exits 0, or `FAILED why` and exits 1.

import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';
import { audit, dialogForm, register } from './lib.mjs';

const BASE = process.env.BASE_URL;
const SHOTS = process.env.SCREENSHOT_DIR ?? 'target/screenshots';
mkdirSync(SHOTS, { recursive: true });
const report = { steps: [], axe: {}, dialogs: 0, cspViolations: [], command_calls: 0 };

function fail(message) { throw new Error(message); }
function step(name) { report.steps.push(name); console.log(`STEP ${name}`); }
function expect(cond, message) { if (!cond) fail(message); }

// The slash command's server: answers `/echo <text>` for the caller only.
const commands = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    report.command_calls += 1;
    const form = new URLSearchParams(body);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ response_type: 'ephemeral', text: `Echo for @${form.get('user_name')}: ${form.get('text')}` }));
  });
});
await new Promise((resolve) => commands.listen(0, '127.0.0.1', resolve));
const commandUrl = `http://127.0.0.1:${commands.address().port}/echo`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});

async function person(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('dialog', async (d) => { if (d.type() === 'confirm') { await d.accept(); return; } report.dialogs += 1; await d.dismiss(); });
  page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) report.cspViolations.push(`${name}: ${m.text()}`); });
  page.on('pageerror', (e) => console.log(`PAGE ERROR in ${name}: ${e.message}`));
  return page;
}




const shot = (page, name) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });

/** The secret a "shown once" dialog holds; the dialog is closed after. */
async function secretFrom(page, title) {
  const dialog = page.getByRole('dialog', { name: title });
  await dialog.waitFor();
  const value = await dialog.locator('input.secret').inputValue();
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  return value;
}

const api = (path, token, init = {}) => fetch(`${BASE}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });

async function openIntegrations(page) {
  await page.getByRole('link', { name: 'Integrations' }).click();
  await page.getByRole('heading', { name: 'Integrations', level: 1 }).waitFor();
}

try {
  const alice = await person('alice');
  await alice.goto(BASE);
  await register(alice, 'alice');
  await alice.getByRole('button', { name: 'Create a team' }).first().click();
  await dialogForm(alice, 'Create a team', [['Team name', 'Acme'], ['URL name (a-z, 0-9, - and _)', 'acme'], ['Who may join', 'true']], 'Create team');
  await alice.getByRole('button', { name: '+ New channel' }).click();
  await dialogForm(alice, 'Create a channel', [['Name', 'ops'], ['URL name (a-z, 0-9, - and _)', 'ops']], 'Create channel');
  await alice.locator('#sidebar a.channel[data-name="ops"][aria-current="page"]').waitFor();
  const bob = await person('bob');
  await bob.goto(BASE);
  await register(bob, 'bob');
  await bob.getByRole('button', { name: 'Join Acme' }).click();
  await bob.getByRole('button', { name: 'Browse' }).click();
  await bob.getByRole('button', { name: 'Join # ops' }).click();
  await bob.locator('#sidebar a.channel[data-name="ops"]').click();
  await bob.locator('#messages[data-loaded="true"]').waitFor();
  step('alice (admin) and bob are in #ops');

  // ---- The admin switches personal access tokens on; bob makes, uses and revokes one -------------
  await alice.getByRole('link', { name: 'System settings' }).click();
  await alice.getByLabel('Anyone may create personal access tokens').check();
  await alice.getByRole('button', { name: 'Save settings' }).click();
  await alice.locator('#toast', { hasText: 'Settings saved' }).waitFor();
  await openIntegrations(bob);
  const tokens = bob.locator('#tokens');
  await tokens.getByLabel('Token name').fill('laptop cli');
  await tokens.getByRole('button', { name: 'Create token' }).click();
  const token = await secretFrom(bob, 'Token created');
  expect(token.startsWith('rcpat_'), `a personal access token: ${token.slice(0, 6)}…`);
  const me = await api('/users/me', token);
  expect(me.status === 200 && (await me.json()).username === 'bob', `the token works from outside the browser: ${me.status}`);
  await tokens.getByRole('listitem').filter({ hasText: 'laptop cli' }).waitFor();
  await shot(bob, '30-integrations-tokens');
  await audit(report, bob, 'integrations');
  await tokens.getByRole('button', { name: 'Revoke token laptop cli' }).click();
  await tokens.getByRole('listitem').filter({ hasText: 'laptop cli' }).waitFor({ state: 'detached' });
  expect((await api('/users/me', token)).status === 401, 'the revoked token is refused');
  step('tokens switched on by the admin; bob created a token that works outside the browser, then revoked it');

  // ---- A bot with a token ------------------------------------------------------------------------------
  await openIntegrations(alice);
  const bots = alice.locator('#bots');
  await bots.getByLabel('Bot username').fill('deploybot');
  await bots.getByLabel('Bot display name (optional)').fill('Deploy Bot');
  await bots.getByRole('button', { name: 'Create bot' }).click();
  await bots.getByRole('listitem').filter({ hasText: '@deploybot' }).waitFor();
  await bots.getByRole('button', { name: 'New token for @deploybot' }).click();
  const botToken = await secretFrom(alice, 'Token for @deploybot');
  const botMe = await (await api('/users/me', botToken)).json();
  expect(botMe.username === 'deploybot' && botMe.is_bot === true, `the bot's token signs in as the bot: ${JSON.stringify(botMe)}`);
  step('alice made a bot and a token for it; the token acts as the bot');

  // ---- An incoming webhook: made on the page, fed from outside, rendered for bob ----------------------
  const incoming = alice.locator('#incoming');
  await incoming.getByLabel('Hook channel').selectOption({ label: '# ops' });
  await incoming.getByLabel('Hook name').fill('CI');
  await incoming.getByRole('button', { name: 'Create incoming webhook' }).click();
  const hookUrl = await secretFrom(alice, 'Incoming webhook created');
  expect(hookUrl.startsWith(`${BASE}/hooks/`), `the hook URL is on the site: ${hookUrl.slice(0, BASE.length + 7)}…`);
  const sent = await fetch(hookUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      text: 'Build **42** finished',
      attachments: [{ fallback: 'Build 42 passed', color: 'good', title: 'Build 42', title_link: 'https://ci.example.com/42', text: 'All 376 tests passed', fields: [{ title: 'Branch', value: 'main', short: true }, { title: 'Took', value: '34 min', short: true }] }],
    }),
  });
  expect(sent.status === 200 && (await sent.text()) === 'ok', `the hook accepted the payload: ${sent.status}`);
  const hooked = bob.locator('#messages article.post', { hasText: 'Build 42 finished' });
  await bob.locator('#sidebar a.channel[data-name="ops"]').click();
  await hooked.waitFor();
  await hooked.locator('.tag', { hasText: 'WEBHOOK' }).waitFor();
  const card = hooked.locator('.slack-attachment');
  await card.locator('.title a[href="https://ci.example.com/42"]', { hasText: 'Build 42' }).waitFor();
  await card.locator('dt', { hasText: 'Branch' }).waitFor();
  expect((await card.locator('dd').allInnerTexts()).map((t) => t.trim()).join('|') === 'main|34 min', 'the fields render');
  const bar = await card.evaluate((el) => getComputedStyle(el).borderLeftColor);
  expect(bar === 'rgb(46, 182, 125)', `the "good" colour bar: ${bar}`);
  await shot(bob, '31-webhook-post');
  await incoming.getByRole('button', { name: 'Revoke webhook CI' }).click();
  await incoming.getByRole('listitem').filter({ hasText: 'CI' }).waitFor({ state: 'detached' });
  const after = await fetch(hookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"late"}' });
  expect(after.status === 404, `a revoked hook is 404: ${after.status}`);
  step('an incoming webhook made on the page posted a Slack payload that bob sees with its attachment; revoked, it is 404');

  // ---- A slash command answers alice alone -------------------------------------------------------------
  const cmds = alice.locator('#commands');
  await cmds.getByLabel('Command trigger').fill('echo');
  await cmds.getByLabel('Command URL').fill(commandUrl);
  await cmds.getByRole('button', { name: 'Create slash command' }).click();
  const commandToken = await secretFrom(alice, '/echo created');
  expect(commandToken.length >= 20, 'the command\'s token is shown once');
  await cmds.getByRole('listitem').filter({ hasText: '/echo' }).waitFor();
  await shot(alice, '32-integrations-admin');
  await alice.locator('#sidebar a.channel[data-name="ops"]').click();
  await alice.locator('#messages[data-loaded="true"]').waitFor();
  await alice.locator('#composer textarea').fill('/echo hello there');
  await alice.locator('#composer textarea').press('Enter');
  const answer = alice.locator('#messages article.post.ephemeral', { hasText: 'Echo for @alice: hello there' });
  await answer.waitFor();
  await answer.locator('.tag', { hasText: 'ONLY VISIBLE TO YOU' }).waitFor();
  await shot(alice, '33-slash-command');
  await bob.waitForTimeout(500);
  expect(await bob.locator('#messages', { hasText: 'Echo for @alice' }).count() === 0, 'bob does not see alice\'s ephemeral answer');
  expect(await bob.locator('#messages', { hasText: '/echo hello there' }).count() === 0, 'the command line is not posted');
  step('a slash command served by this script answered alice alone');

  expect(report.cspViolations.length === 0, `CSP violations: ${report.cspViolations.join(' | ')}`);
  console.log(`RESULT ${JSON.stringify(report)}`);
  await browser.close();
  commands.close();
  process.exit(0);
} catch (e) {
  console.log(`FAILED ${e.message}`);
  let n = 0;
  for (const context of browser.contexts()) for (const p of context.pages()) await p.screenshot({ path: `${SHOTS}/integrations-failure-${++n}.png` }).catch(() => {});
  console.log(`RESULT ${JSON.stringify(report)}`);
  await browser.close().catch(() => {});
  commands.close();
  process.exit(1);
}
