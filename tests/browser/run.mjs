// The web client in a real browser (Debian's chromium driven by playwright-core), against the node
// cluster the Rust test started behind HAProxy (BASE_URL). Two people chat live; the node one of them
// is connected to is killed (the Rust side does `kill -9` when this script prints `KILL <node>` and
// answers `KILLED` on stdin) while the other keeps posting; hostile messages render as text; the
// keyboard alone signs in, switches channel, sends and opens a thread; axe-core audits the main views.
// Screenshots go to SCREENSHOT_DIR. Exits non-zero with a message on the first failure.

import { mkdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';
import { audit, dialogForm, register } from './lib.mjs';

const BASE = process.env.BASE_URL;
const SHOTS = process.env.SCREENSHOT_DIR ?? 'target/screenshots';
const lines = createInterface({ input: process.stdin });
const stdinLines = lines[Symbol.asyncIterator]();

mkdirSync(SHOTS, { recursive: true });
const report = { steps: [], axe: {}, dialogs: 0, cspViolations: [] };

function fail(message) { throw new Error(message); }
function step(name) { report.steps.push(name); console.log(`STEP ${name}`); }
function expect(cond, message) { if (!cond) fail(message); }

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});

async function person(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('dialog', async (d) => {
    if (d.type() === 'confirm') { await d.accept(); return; }
    report.dialogs += 1;
    console.log(`UNEXPECTED DIALOG in ${name}: ${d.type()} ${d.message()}`);
    await d.dismiss();
  });
  page.on('console', (m) => {
    const text = m.text();
    if (/Content Security Policy|Refused to/i.test(text)) report.cspViolations.push(`${name}: ${text}`);
  });
  page.on('pageerror', (e) => console.log(`PAGE ERROR in ${name}: ${e.message}`));
  return { name, context, page };
}



async function openChannel(page, name) {
  await page.locator(`#sidebar a.channel[data-name="${name}"]`).click();
  await page.locator('#messages[data-loaded="true"]').waitFor();
}

async function send(page, text) {
  const box = page.locator('#composer textarea');
  await box.fill(text);
  await box.press('Enter');
  await page.waitForFunction(() => document.querySelector('#composer textarea').value === '');
}

const bodies = (page) => page.locator('#messages article.post .body').allInnerTexts();


const shot = (page, name) => page.screenshot({ path: `${SHOTS}/${name}.png` });

try {
  // ---- Two people, a team, channels, live chat ------------------------------------------------------
  const alice = await person('alice');
  await alice.page.goto(BASE);
  await alice.page.getByRole('heading', { name: 'Sign in to RustChat' }).waitFor();
  await audit(report, alice.page, 'sign-in');
  await shot(alice.page, '01-sign-in');
  await alice.page.goto(BASE);
  await register(alice.page, 'alice');
  step('alice registered (first account: system admin)');
  await alice.page.getByRole('button', { name: 'Create a team' }).first().click();
  await dialogForm(alice.page, 'Create a team', [['Team name', 'Acme'], ['URL name (a-z, 0-9, - and _)', 'acme'], ['Who may join', 'true']], 'Create team');
  for (const name of ['chat', 'random']) {
    await alice.page.getByRole('button', { name: '+ New channel' }).click();
    await dialogForm(alice.page, 'Create a channel', [['Name', name], ['URL name (a-z, 0-9, - and _)', name], ['Purpose (optional)', `The ${name} channel`]], 'Create channel');
    await alice.page.locator(`#sidebar a.channel[data-name="${name}"][aria-current="page"]`).waitFor();
  }
  step('alice created team Acme with #chat and #random');

  const bob = await person('bob');
  await bob.page.goto(BASE);
  await register(bob.page, 'bob');
  await bob.page.getByRole('button', { name: 'Join Acme' }).click();
  await bob.page.getByRole('heading', { name: 'No channels yet' }).waitFor();
  for (const name of ['chat', 'random']) {
    await bob.page.getByRole('button', { name: 'Browse' }).click();
    await bob.page.getByRole('button', { name: `Join # ${name}` }).click();
    await bob.page.locator(`#sidebar a.channel[data-name="${name}"]`).waitFor();
  }
  await openChannel(bob.page, 'chat');
  await openChannel(alice.page, 'chat');
  step('bob joined the team and both channels');

  await send(alice.page, 'Hello **Bob**, welcome to `RustChat`!');
  await bob.page.locator('#messages article.post', { hasText: 'Hello Bob, welcome to RustChat!' }).waitFor();
  expect(await bob.page.locator('#messages article.post strong', { hasText: 'Bob' }).count() === 1, 'markdown bold renders');
  await bob.page.locator('#composer textarea').pressSequentially('Hi Alice', { delay: 20 });
  await alice.page.locator('#typing', { hasText: 'Bob is typing…' }).waitFor();
  await bob.page.locator('#composer textarea').press('Enter');
  await alice.page.locator('#messages article.post', { hasText: 'Hi Alice' }).waitFor();
  step('live chat both ways, with the typing indicator');

  // Unread and mention badges, live: bob looks at #random while alice mentions him in #chat.
  await openChannel(bob.page, 'random');
  await send(alice.page, 'Just chatting');
  await send(alice.page, '@bob can you look at this?');
  const chatLink = bob.page.locator('#sidebar a.channel[data-name="chat"]');
  await chatLink.locator('.badge', { hasText: '2' }).waitFor();
  await chatLink.locator('.mention-badge', { hasText: '@1' }).waitFor();
  await shot(bob.page, '02-unread-and-mention-badges');
  await openChannel(bob.page, 'chat');
  await bob.page.locator('#new-marker').waitFor();
  expect(await bob.page.locator('#messages .mention-me', { hasText: '@bob' }).count() === 1, 'the mention of bob is highlighted');
  expect(await chatLink.locator('.badge').count() === 0, 'opening the channel clears its badges');
  step('unread and mention badges arrived live and cleared on opening');

  // A thread reply and a reaction, live.
  const hello = bob.page.locator('#messages article.post', { hasText: 'Hello Bob' });
  await hello.hover();
  await hello.getByRole('button', { name: 'Reply', exact: true }).click();
  const thread = bob.page.locator('#thread');
  await thread.locator('article.post', { hasText: 'Hello Bob' }).waitFor();
  await thread.getByLabel('Reply in thread').fill('Thanks, glad to be here');
  await thread.getByLabel('Reply in thread').press('Enter');
  await alice.page.locator('#messages article.post', { hasText: 'Hello Bob' }).getByRole('button', { name: '1 reply' }).waitFor();
  const reply = alice.page.locator('#messages article.post', { hasText: 'Thanks, glad to be here' });
  await reply.hover();
  await reply.getByRole('button', { name: 'React', exact: true }).click();
  await alice.page.getByRole('dialog', { name: 'Add a reaction' }).getByRole('button', { name: 'tada' }).click();
  await thread.locator('button.reaction[data-emoji="tada"]', { hasText: '1' }).waitFor();
  await bob.page.locator('#messages article.post', { hasText: 'Thanks, glad' }).locator('button.reaction[data-emoji="tada"]').waitFor();
  await shot(bob.page, '03-thread-and-reaction');
  await audit(report, bob.page, 'channel with thread open');
  step('a thread reply and a reaction arrived live');

  // Editing and deleting one's own message, live on the other side; search jumps to a message.
  const mine = alice.page.locator('#messages article.post', { hasText: 'Just chatting' });
  await mine.hover();
  await mine.getByRole('button', { name: 'Edit', exact: true }).click();
  await alice.page.getByLabel('Edit message').fill('Just chatting, edited');
  await alice.page.getByLabel('Edit message').press('Enter');
  await bob.page.locator('#messages article.post', { hasText: 'Just chatting, edited' }).locator('text=(edited)').waitFor();
  const edited = alice.page.locator('#messages article.post', { hasText: 'Just chatting, edited' });
  await edited.hover();
  await edited.getByRole('button', { name: 'Delete', exact: true }).click();
  await bob.page.locator('#messages article.post', { hasText: 'Just chatting' }).waitFor({ state: 'detached' });
  await alice.page.getByRole('searchbox', { name: 'Search messages' }).fill('welcome');
  await alice.page.getByRole('searchbox', { name: 'Search messages' }).press('Enter');
  await alice.page.getByRole('dialog', { name: /Results for/ }).getByRole('button', { name: /welcome to/ }).click();
  await alice.page.locator('#messages article.post.highlight', { hasText: 'Hello Bob' }).waitFor();
  await alice.page.locator('#edit-channel').click();
  await dialogForm(alice.page, 'Edit channel', [['Purpose', 'Where we talk']], 'Save');
  await bob.page.locator('#channel-purpose', { hasText: 'Where we talk' }).waitFor();
  step('an edit and a delete arrived live; search jumped to the message; a new purpose arrived live');

  // ---- kill -9 of bob's node while alice keeps posting -------------------------------------------
  const killed = await bob.page.locator('#connection').getAttribute('data-node');
  expect(killed, 'bob\'s page names the node it is connected to');
  const drops = Number(await bob.page.locator('#connection').getAttribute('data-drops') ?? 0);
  const sent = [];
  for (let i = 1; i <= 4; i += 1) { sent.push(`count ${i}`); await send(alice.page, `count ${i}`); }
  console.log(`KILL ${killed}`);
  const answer = await stdinLines.next();
  expect(answer.value === 'KILLED', `the test harness answered ${JSON.stringify(answer.value)}`);
  for (let i = 5; i <= 12; i += 1) {
    sent.push(`count ${i}`);
    await send(alice.page, `count ${i}`);
    await alice.page.waitForTimeout(100);
  }
  await bob.page.waitForFunction((d) => Number(document.querySelector('#connection').dataset.drops ?? 0) > d, drops);
  await bob.page.waitForFunction((k) => {
    const c = document.querySelector('#connection');
    return c.dataset.state === 'open' && c.dataset.node && c.dataset.node !== k;
  }, killed, { timeout: 30000 });
  await bob.page.locator('#messages article.post', { hasText: 'count 12' }).waitFor();
  await bob.page.waitForTimeout(500);
  const seen = (await bodies(bob.page)).filter((t) => /^count \d+$/.test(t.trim())).map((t) => t.trim());
  expect(JSON.stringify(seen) === JSON.stringify(sent), `after the kill bob shows ${JSON.stringify(seen)}, expected ${JSON.stringify(sent)}`);
  const duplicates = Number(await bob.page.locator('#connection').getAttribute('data-duplicates') ?? 0);
  const lastDuplicate = await bob.page.locator('#connection').getAttribute('data-last-duplicate');
  expect(duplicates === 0, `the server sent ${duplicates} events twice; the last: ${lastDuplicate}`);
  report.kill = { node: killed, duplicates, reconnected_to: await bob.page.locator('#connection').getAttribute('data-node'), messages: seen.length };
  step(`bob's node ${killed} was killed; bob reconnected and shows all ${seen.length} messages once, in order`);

  // ---- Hostile messages render as text or safe links ---------------------------------------------
  const hostile = [
    '<img src=x onerror=alert(1)>',
    '[click me](javascript:alert(2))',
    '<script>alert(3)</script> **bold** [ok](https://example.com/a?b=1)',
    'javascript:alert(4) and [data](data:text/html,<script>alert(5)</script>)',
    '"><svg onload=alert(6)>',
  ];
  for (const text of hostile) await send(alice.page, text);
  await bob.page.locator('#messages article.post', { hasText: '"><svg onload=alert(6)>' }).waitFor();
  const xss = await bob.page.evaluate(() => {
    const root = document.getElementById('messages');
    return {
      elements: root.querySelectorAll('img, script, svg, iframe, object').length,
      hrefs: [...root.querySelectorAll('a')].map((a) => a.getAttribute('href')),
      texts: [...root.querySelectorAll('article.post .body')].map((b) => b.textContent),
    };
  });
  expect(xss.elements === 0, `hostile markup became elements: ${xss.elements}`);
  expect(xss.hrefs.every((h) => /^(https?:|mailto:)/.test(h)), `an unsafe link: ${JSON.stringify(xss.hrefs)}`);
  expect(xss.hrefs.includes('https://example.com/a?b=1'), `the safe link is kept: ${JSON.stringify(xss.hrefs)}`);
  expect(xss.texts.some((t) => t.includes('<img src=x onerror=alert(1)>')), 'the img tag shows as text');
  expect(xss.texts.some((t) => t.includes('[click me](javascript:alert(2))')), 'the javascript: link shows as text');
  await bob.page.waitForTimeout(300);
  expect(report.dialogs === 0, `a script ran: ${report.dialogs} dialogs`);
  step('hostile messages rendered as text; no dialog, no script, only safe links');

  // ---- Keyboard only ---------------------------------------------------------------------------------
  const keys = await person('bob-keyboard');
  const kp = keys.page;
  await kp.goto(BASE);
  await kp.getByRole('heading', { name: 'Sign in to RustChat' }).waitFor();
  const focused = () => kp.evaluate(() => {
    const el = document.activeElement;
    return `${el.tagName.toLowerCase()}|${el.getAttribute('aria-label') ?? ''}|${el.textContent.trim().slice(0, 40)}|${el.id}`;
  });
  async function tabTo(pattern, { back = false, max = 400 } = {}) {
    for (let i = 0; i < max; i += 1) {
      if (pattern.test(await focused())) return;
      await kp.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    }
    fail(`keyboard: never reached ${pattern} (at ${await focused()})`);
  }
  expect(/^input\|.*auth-login$/.test(await focused()), `the sign-in page focuses its first field (${await focused()})`);
  await kp.keyboard.type('bob');
  await kp.keyboard.press('Tab');
  await kp.keyboard.type('password-bob');
  await kp.keyboard.press('Enter');
  await kp.locator('#connection[data-state="open"]').waitFor();
  await tabTo(/^a\|.*# random/);
  await kp.keyboard.press('Enter');
  await kp.locator('#sidebar a.channel[data-name="random"][aria-current="page"]').waitFor();
  await kp.keyboard.press('Alt+ArrowUp');
  await kp.locator('#sidebar a.channel[data-name="chat"][aria-current="page"]').waitFor();
  await kp.locator('#messages[data-loaded="true"]').waitFor();
  await tabTo(/^textarea\|Write a message/);
  await kp.keyboard.type('Typed with the keyboard alone');
  await kp.keyboard.press('Enter');
  await alice.page.locator('#messages article.post', { hasText: 'Typed with the keyboard alone' }).waitFor();
  await tabTo(/^button\|\|Reply/, { back: true });
  await kp.keyboard.press('Enter');
  await kp.locator('#thread:not([hidden])').waitFor();
  await kp.waitForFunction(() => document.activeElement?.getAttribute('aria-label') === 'Reply in thread', null, { timeout: 5000 })
    .catch(async () => fail(`opening a thread focuses its reply box (focus: ${await focused()})`));
  await kp.keyboard.type('A keyboard reply');
  await kp.keyboard.press('Enter');
  await alice.page.locator('#messages article.post', { hasText: 'A keyboard reply' }).waitFor();
  await kp.keyboard.press('Escape');
  await kp.locator('#thread').waitFor({ state: 'hidden' });
  step('keyboard only: signed in, switched channel, sent, opened a thread and replied');

  // ---- The other views: audits and screenshots ------------------------------------------------------
  await shot(alice.page, '04-channel');
  await audit(report, alice.page, 'channel');
  await alice.page.getByRole('link', { name: 'System settings' }).click();
  await alice.page.getByRole('heading', { name: 'Site' }).waitFor();
  await alice.page.getByRole('listitem').filter({ hasText: '@bob' }).first().waitFor();
  await audit(report, alice.page, 'admin');
  await shot(alice.page, '05-admin');
  await alice.page.getByRole('button', { name: '+ Message people' }).click();
  const dm = alice.page.getByRole('dialog', { name: 'Message people' });
  await dm.getByLabel('Find people').fill('bo');
  await dm.getByRole('checkbox', { name: /@bob/ }).check();
  await audit(report, alice.page, 'direct message dialog');
  await dm.getByRole('button', { name: 'Start conversation' }).click();
  await alice.page.locator('#channel-title', { hasText: 'Bob' }).waitFor();
  await send(alice.page, 'A direct hello');
  await bob.page.locator('#dm-list a.channel .badge').first().waitFor();
  step('admin page, DM started, DM badge arrived live');

  const dark = await browser.newContext({ colorScheme: 'dark', viewport: { width: 1280, height: 800 } });
  const dp = await dark.newPage();
  await dp.goto(BASE);
  await dp.getByLabel('Username or email', { exact: true }).fill('alice');
  await dp.getByLabel('Password', { exact: true }).fill('password-alice');
  await dp.getByRole('button', { name: 'Sign in' }).click();
  await dp.locator('#messages[data-loaded="true"]').waitFor();
  await dp.locator('#dm-list .dot.online').waitFor();
  await audit(report, dp, 'channel (dark)');
  await shot(dp, '06-dark');
  await dp.setViewportSize({ width: 390, height: 844 });
  await shot(dp, '07-phone');
  step('dark scheme and phone width; a new sign-in shows who of its DMs is online');
  await dp.setViewportSize({ width: 1280, height: 800 });
  await dp.getByRole('button', { name: 'Sign out' }).click();
  await dp.getByRole('heading', { name: 'Sign in to RustChat' }).waitFor();
  expect(await dp.evaluate(() => sessionStorage.length) === 0, 'signing out forgets the refresh token');
  await dp.reload();
  await dp.getByRole('heading', { name: 'Sign in to RustChat' }).waitFor();
  step('signed out: back to the sign-in page, nothing kept');

  expect(report.cspViolations.length === 0, `CSP violations: ${report.cspViolations.join(' | ')}`);
  console.log(`RESULT ${JSON.stringify(report)}`);
  await browser.close();
  process.exit(0);
} catch (e) {
  console.log(`FAILED ${e.message}`);
  // What each page showed when it failed, for whoever reads the CI log.
  let n = 0;
  for (const context of browser.contexts()) for (const page of context.pages()) await page.screenshot({ path: `${SHOTS}/failure-${++n}.png` }).catch(() => {});
  console.log(`RESULT ${JSON.stringify(report)}`);
  await browser.close().catch(() => {});
  process.exit(1);
}
