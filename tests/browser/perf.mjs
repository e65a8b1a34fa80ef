// Browser-side figures for the web client (issue #17's budgets), against a running node (BASE_URL):
// first-load transfer (compressed bytes, cold cache), switching to a channel with 50 new messages
// (route start → list rendered, fetch included; and the render alone, posts fetched → rendered: the
// client's own Performance API marks), and
// scrolling back through a 10 000-message channel (ms per 50-post page, longest main-thread task).
// Seeds through the REST API once per run; prints one JSON line per run. Used by scripts/bench-web.

import { chromium } from 'playwright-core';

const BASE = process.env.BASE_URL ?? 'http://127.0.0.1:3000';
const RUNS = Number(process.env.RUNS ?? 5);
const BIG = Number(process.env.BIG_CHANNEL ?? 10000);
const PAGES_BACK = Number(process.env.PAGES_BACK ?? 40);

async function call(method, path, body, token) {
  const r = await fetch(`${BASE}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.status === 204 ? null : r.json();
}

async function seed(tag) {
  const reader = await call('POST', '/auth/register', { username: `r${tag}`, email: `r${tag}@example.com`, password: 'password-reader' });
  const writer = await call('POST', '/auth/register', { username: `w${tag}`, email: `w${tag}@example.com`, password: 'password-writer' });
  const team = await call('POST', '/teams', { name: `perf${tag}`, display_name: 'Perf', open: true }, writer.access_token);
  await call('POST', `/teams/${team.id}/join`, {}, reader.access_token);
  const channel = async (name) => {
    const c = await call('POST', `/teams/${team.id}/channels`, { name, display_name: name }, writer.access_token);
    await call('POST', `/channels/${c.id}/members`, { user_id: reader.user.id }, writer.access_token);
    return c;
  };
  const big = await channel('big');
  const fresh = await channel('fresh');
  const post = (c, i) => call('POST', `/channels/${c.id}/posts`, { message: `message ${i}: some **markdown** text with a [link](https://example.com/${i}) and \`code\`` }, writer.access_token);
  for (let i = 0; i < BIG; i += 16) await Promise.all(Array.from({ length: Math.min(16, BIG - i) }, (_, k) => post(big, i + k)));
  return { reader, writer, big, fresh, post };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-dev-shm-usage'] });
const runs = [];
const tag = Date.now().toString(36);
const world = await seed(tag);
for (let run = 0; run < RUNS; run += 1) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(BASE, { waitUntil: 'load' });
  const bytes = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return nav.transferSize + performance.getEntriesByType('resource').reduce((n, r) => n + r.transferSize, 0);
  });
  await page.getByLabel('Username or email', { exact: true }).fill(`r${tag}`);
  await page.getByLabel('Password', { exact: true }).fill('password-reader');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#connection[data-state="open"]').waitFor();
  await page.locator(`#sidebar a.channel[data-name="big"]`).click();
  await page.locator('#messages[data-loaded="true"]').waitFor();
  // 50 new messages arrive in #fresh while the reader is in #big; then switch to it.
  for (let i = 0; i < 50; i += 10) await Promise.all(Array.from({ length: 10 }, (_, k) => world.post(world.fresh, `${run}-${i + k}`)));
  await page.locator('#sidebar a.channel[data-name="fresh"] .badge').waitFor();
  await page.evaluate(() => performance.clearMeasures());
  await page.locator('#sidebar a.channel[data-name="fresh"]').click();
  await page.waitForFunction(() => performance.getEntriesByName('rustchat:channel-switch', 'measure').length > 0);
  const switchMs = await page.evaluate(() => performance.getEntriesByName('rustchat:channel-switch', 'measure')[0].duration);
  const renderMs = await page.evaluate(() => performance.getEntriesByName('rustchat:channel-render', 'measure')[0].duration);
  const shown = await page.locator('#messages article.post').count();
  // Scroll back through #big, one page at a time.
  await page.locator(`#sidebar a.channel[data-name="big"]`).click();
  await page.locator('#messages[data-loaded="true"]').waitFor();
  const scroll = await page.evaluate(async ([pages]) => {
    const longest = { ms: 0 };
    const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) longest.ms = Math.max(longest.ms, e.duration); });
    obs.observe({ type: 'longtask', buffered: false });
    const list = document.getElementById('messages');
    const newestAtStart = list.querySelector('article.post:last-of-type')?.dataset.id;
    // Counting posts with querySelectorAll would itself cost O(n) per poll: watch insertions instead.
    let batches = 0;
    const watch = new MutationObserver(() => { batches += 1; });
    watch.observe(list, { childList: true });
    const times = [];
    for (let i = 0; i < pages && list.dataset.older !== 'done'; i += 1) {
      const before = batches;
      const t0 = performance.now();
      list.scrollTop = 0;
      list.dispatchEvent(new Event('scroll'));
      while (batches === before) await new Promise((r) => setTimeout(r, 2));
      times.push(performance.now() - t0);
    }
    const oldest = list.querySelector('article.post .body')?.textContent ?? '';
    // And forward again to the newest post (the window pages the dropped posts back in).
    let forward = 0;
    const atNewest = () => [...list.querySelectorAll('article.post')].at(-1)?.dataset.id === newestAtStart;
    for (let i = 0; i < pages + 5 && !atNewest(); i += 1) {
      const before = batches;
      list.scrollTop = list.scrollHeight;
      list.dispatchEvent(new Event('scroll'));
      const t0 = performance.now();
      while (batches === before && performance.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 2));
      forward += 1;
    }
    watch.disconnect();
    obs.disconnect();
    const newest = atNewest();
    return { times, longestTask: longest.ms, posts: times.length * 50 + 50, inDom: list.querySelectorAll('article.post').length, oldest, newest, forward };
  }, [PAGES_BACK]);
  runs.push({ bytes, switchMs, renderMs, shown, pageMs: median(scroll.times), worstPageMs: Math.max(...scroll.times), longestTaskMs: scroll.longestTask, postsReached: scroll.posts, inDom: scroll.inDom, oldest: scroll.oldest.slice(0, 14), newestBack: scroll.newest, forwardPages: scroll.forward });
  console.log(JSON.stringify(runs.at(-1)));
  await context.close();
}
await browser.close();
const summary = {};
for (const key of ['bytes', 'switchMs', 'renderMs', 'pageMs', 'worstPageMs', 'longestTaskMs']) {
  const xs = runs.map((r) => r[key]);
  summary[key] = { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}
console.log(`SUMMARY ${JSON.stringify(summary)}`);
