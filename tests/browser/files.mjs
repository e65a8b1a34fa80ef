// Attachments in the web client, in a real browser (Debian's chromium driven by playwright-core),
// against two nodes behind HAProxy sharing S3 storage (BASE_URL; the Rust side starts them and moto).
// Alice attaches a picture with the attach button, a text file by dropping it and a screenshot by
// pasting it; a large upload shows its progress on a slowed link; an over-size file is refused
// before it is sent; Bob sees the images inline, opens one whole and downloads the other files
// with the bytes intact; an uploaded HTML page is only ever a download. Screenshots go to
// SCREENSHOT_DIR. Prints `RESULT {...}` and exits 0, or `FAILED why` and exits 1.

import { readFileSync, mkdirSync } from 'node:fs';
import { deflateSync, crc32 } from 'node:zlib';
import { chromium } from 'playwright-core';
import { audit, dialogForm, register } from './lib.mjs';

const BASE = process.env.BASE_URL;
const SHOTS = process.env.SCREENSHOT_DIR ?? 'target/screenshots';
const MAX_SIZE = Number(process.env.MAX_SIZE_BYTES ?? 3000000);
mkdirSync(SHOTS, { recursive: true });
const report = { steps: [], axe: {}, dialogs: 0, cspViolations: [], downloads: {} };

function fail(message) { throw new Error(message); }
function step(name) { report.steps.push(name); console.log(`STEP ${name}`); }
function expect(cond, message) { if (!cond) fail(message); }

/** A real PNG: `w`×`h`, a diagonal gradient in `rgb` (so thumbnails have something to show). */
function png(w, h, rgb) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(w, 0); header.writeUInt32BE(h, 4);
  header[8] = 8; header[9] = 2; // 8-bit RGB
  const rows = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y += 1) {
    const row = y * (w * 3 + 1);
    for (let x = 0; x < w; x += 1) {
      const k = (x + y) / (w + h);
      rows[row + 1 + x * 3] = Math.round(rgb[0] * k);
      rows[row + 2 + x * 3] = Math.round(rgb[1] * k);
      rows[row + 3 + x * 3] = Math.round(rgb[2] * (1 - k));
    }
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});

async function person(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('dialog', async (d) => {
    if (d.type() === 'confirm') { await d.accept(); return; }
    report.dialogs += 1;
    await d.dismiss();
  });
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) report.cspViolations.push(`${name}: ${m.text()}`);
  });
  page.on('pageerror', (e) => console.log(`PAGE ERROR in ${name}: ${e.message}`));
  return { name, context, page };
}




const shot = (page, name) => page.screenshot({ path: `${SHOTS}/${name}.png` });

/** Files handed to the page as a DataTransfer (what a drop or a paste carries). */
function transfer(page, files) {
  return page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name, { type: f.type }));
    return dt;
  }, files.map((f) => ({ name: f.name, type: f.type, b64: f.bytes.toString('base64') })));
}

const pendingDone = (page, name) => page.locator(`#composer .pending-file[data-state="done"][data-name="${name}"]`).waitFor();

/** What a download saved, after clicking `trigger`. */
async function downloaded(page, trigger) {
  const [download] = await Promise.all([page.waitForEvent('download'), trigger.click()]);
  const path = await download.path();
  return { name: download.suggestedFilename(), bytes: readFileSync(path) };
}

try {
  const alice = await person('alice');
  await alice.page.goto(BASE);
  await register(alice.page, 'alice');
  await alice.page.getByRole('button', { name: 'Create a team' }).first().click();
  await dialogForm(alice.page, 'Create a team', [['Team name', 'Acme'], ['URL name (a-z, 0-9, - and _)', 'acme'], ['Who may join', 'true']], 'Create team');
  await alice.page.getByRole('button', { name: '+ New channel' }).click();
  await dialogForm(alice.page, 'Create a channel', [['Name', 'design'], ['URL name (a-z, 0-9, - and _)', 'design']], 'Create channel');
  await alice.page.locator('#sidebar a.channel[data-name="design"][aria-current="page"]').waitFor();
  const bob = await person('bob');
  await bob.page.goto(BASE);
  await register(bob.page, 'bob');
  await bob.page.getByRole('button', { name: 'Join Acme' }).click();
  await bob.page.getByRole('button', { name: 'Browse' }).click();
  await bob.page.getByRole('button', { name: 'Join # design' }).click();
  await bob.page.locator('#sidebar a.channel[data-name="design"]').click();
  await bob.page.locator('#messages[data-loaded="true"]').waitFor();
  step('alice and bob are in #design');

  // ---- The attach button, a drop and a paste, then one post with all three -----------------------
  const mockup = png(900, 600, [40, 160, 220]);
  const [chooser] = await Promise.all([alice.page.waitForEvent('filechooser'), alice.page.getByRole('button', { name: 'Attach files' }).click()]);
  await chooser.setFiles({ name: 'mockup.png', mimeType: 'image/png', buffer: mockup });
  await pendingDone(alice.page, 'mockup.png');
  const notes = Buffer.from('Release notes\n- attachments\n- ünïcödé names kept\n');
  await alice.page.locator('#composer').dispatchEvent('drop', { dataTransfer: await transfer(alice.page, [{ name: 'notes ✓.txt', type: 'text/plain', bytes: notes }]) });
  await pendingDone(alice.page, 'notes ✓.txt');
  const screenshot = png(320, 200, [220, 90, 40]);
  const pasted = await transfer(alice.page, [{ name: 'image.png', type: 'image/png', bytes: screenshot }]);
  await alice.page.locator('#composer textarea').evaluate((el, dt) => el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true })), pasted);
  const pastedItem = alice.page.locator('#composer .pending-file', { hasText: 'Pasted image' });
  await pastedItem.and(alice.page.locator('[data-state="done"]')).waitFor();
  const pastedName = await pastedItem.getAttribute('data-name');
  await shot(alice.page, '20-attachments-ready');
  await alice.page.locator('#composer textarea').fill('The new mockups, notes and a screenshot');
  await alice.page.locator('#composer textarea').press('Enter');
  await alice.page.waitForFunction(() => document.querySelectorAll('#composer .pending-file').length === 0);
  step('three files attached by button, drop and paste, sent on one post');

  const post = bob.page.locator('#messages article.post', { hasText: 'The new mockups' });
  await post.waitFor();
  const thumbs = post.locator('.attachment.image img');
  await bob.page.waitForFunction(() => {
    const imgs = [...document.querySelectorAll('#messages .attachment.image img')];
    return imgs.length === 2 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  });
  const sizes = await thumbs.evaluateAll((imgs) => imgs.map((i) => [i.alt, i.naturalWidth, i.naturalHeight]));
  expect(JSON.stringify(sizes.map((s) => s[0]).sort()) === JSON.stringify(['mockup.png', pastedName].sort()), `inline images: ${JSON.stringify(sizes)}`);
  const mock = sizes.find((s) => s[0] === 'mockup.png');
  expect(mock[1] === 400 && Math.abs(mock[2] - 267) <= 1, `the mockup shows as its 400-wide thumbnail, not the original: ${JSON.stringify(mock)}`);
  await post.getByRole('button', { name: /^Download notes ✓\.txt, / }).waitFor();
  await shot(bob.page, '21-attachments-inline');
  await audit(report, bob.page, 'channel with attachments');
  step('bob sees both images inline (thumbnails) and a download link for the text file');

  const text = await downloaded(bob.page, post.getByRole('button', { name: /^Download notes ✓\.txt/ }));
  expect(text.name === 'notes ✓.txt' && text.bytes.equals(notes), `the text file downloads intact under its name: ${text.name}, ${text.bytes.length} bytes`);
  await post.getByRole('button', { name: 'View image mockup.png' }).click();
  const viewer = bob.page.getByRole('dialog', { name: 'mockup.png' });
  await bob.page.waitForFunction(() => { const i = document.querySelector('dialog .full-image'); return i && i.complete && i.naturalWidth === 900; });
  await shot(bob.page, '22-image-viewer');
  const original = await downloaded(bob.page, viewer.getByRole('button', { name: /^Download/ }));
  expect(original.name === 'mockup.png' && original.bytes.equals(mockup), `the original image downloads intact: ${original.name}, ${original.bytes.length} bytes`);
  await bob.page.keyboard.press('Escape');
  await viewer.waitFor({ state: 'detached' });
  report.downloads = { text: text.bytes.length, image: original.bytes.length };
  step('bob downloaded the text file and the original image, byte for byte, through the other node');

  // ---- Upload progress on a slow link, and a post of files alone ----------------------------------
  const cdp = await alice.context.newCDPSession(alice.page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 400 * 1024 });
  const big = Buffer.alloc(1_500_000, 7);
  const [chooser2] = await Promise.all([alice.page.waitForEvent('filechooser'), alice.page.getByRole('button', { name: 'Attach files' }).click()]);
  await chooser2.setFiles({ name: 'dataset.bin', mimeType: 'application/octet-stream', buffer: big });
  await alice.page.getByRole('progressbar', { name: 'Uploading dataset.bin' }).waitFor();
  const midway = await alice.page.waitForFunction(() => {
    const p = document.querySelector('#composer .pending-file[data-name="dataset.bin"] progress');
    return p && p.value > 0.05 && p.value < 0.95 ? p.value : false;
  }, null, { polling: 50 });
  report.progressSeen = await midway.jsonValue();
  await shot(alice.page, '23-upload-progress');
  await alice.page.locator('#composer textarea').press('Enter'); // sends once the upload is in
  await alice.page.waitForFunction(() => document.querySelectorAll('#composer .pending-file').length === 0, null, { timeout: 40000 });
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  const binary = bob.page.locator('#messages article.post').filter({ has: bob.page.getByRole('button', { name: /^Download dataset\.bin, 1\.4 MB$/ }) });
  await binary.waitFor();
  expect((await binary.locator('.body').innerText()).trim() === '', 'a post of a file alone has no text');
  const big2 = await downloaded(bob.page, binary.getByRole('button', { name: /^Download dataset\.bin/ }));
  expect(big2.bytes.equals(big), `the large file downloads intact: ${big2.bytes.length} bytes`);
  step(`upload progress shown (${report.progressSeen.toFixed(2)} seen mid-way); Enter waited for the upload; a file-only post arrived and downloads intact`);

  // ---- Refusals: too large before sending; HTML is a download, never a page ---------------------
  const [chooser3] = await Promise.all([alice.page.waitForEvent('filechooser'), alice.page.getByRole('button', { name: 'Attach files' }).click()]);
  await chooser3.setFiles({ name: 'huge.iso', mimeType: 'application/octet-stream', buffer: Buffer.alloc(MAX_SIZE + 1, 1) });
  const refused = alice.page.locator('#composer .pending-file[data-name="huge.iso"][data-state="failed"]');
  await refused.waitFor();
  expect(/too large/.test(await refused.innerText()), `the over-size file says why: ${await refused.innerText()}`);
  await shot(alice.page, '24-too-large');
  await alice.page.getByRole('button', { name: 'Remove huge.iso' }).click();
  await refused.waitFor({ state: 'detached' });
  const page = Buffer.from('<html><body><script>alert("xss")</script><h1>hi</h1></body></html>');
  await alice.page.locator('#messages').dispatchEvent('drop', { dataTransfer: await transfer(alice.page, [{ name: 'page.html', type: 'text/html', bytes: page }]) });
  await pendingDone(alice.page, 'page.html');
  await alice.page.locator('#composer textarea').fill('an html page');
  await alice.page.locator('#composer textarea').press('Enter');
  const htmlPost = bob.page.locator('#messages article.post', { hasText: 'an html page' });
  await htmlPost.waitFor();
  expect(await htmlPost.locator('img, iframe, object, embed').count() === 0, 'the HTML file is not shown inline');
  const html = await downloaded(bob.page, htmlPost.getByRole('button', { name: /^Download page\.html/ }));
  expect(html.bytes.equals(page), 'the HTML file downloads as it was uploaded');
  await bob.page.waitForTimeout(300);
  expect(report.dialogs === 0, `a script ran: ${report.dialogs} dialogs`);
  step('an over-size file was refused before sending; a dropped HTML page is only a download');

  // ---- A reload shows the files from the history; a reply in a thread carries one too -----------
  await bob.page.reload();
  await bob.page.locator('#messages[data-loaded="true"]').waitFor();
  await bob.page.waitForFunction(() => [...document.querySelectorAll('#messages .attachment.image img')].filter((i) => i.complete && i.naturalWidth > 0).length === 2);
  const reloaded = bob.page.locator('#messages article.post', { hasText: 'The new mockups' });
  await reloaded.hover();
  await reloaded.getByRole('button', { name: 'Reply', exact: true }).click();
  const thread = bob.page.locator('#thread');
  const replyChooser = Promise.all([bob.page.waitForEvent('filechooser'), thread.getByRole('button', { name: 'Attach files' }).click()]);
  const [c4] = await replyChooser;
  await c4.setFiles({ name: 'feedback.png', mimeType: 'image/png', buffer: png(200, 200, [60, 200, 90]) });
  await thread.locator('.pending-file[data-name="feedback.png"][data-state="done"]').waitFor();
  await thread.getByLabel('Reply in thread').fill('My feedback');
  await thread.getByLabel('Reply in thread').press('Enter');
  await alice.page.locator('#messages article.post', { hasText: 'The new mockups' }).getByRole('button', { name: '1 reply' }).waitFor();
  await thread.locator('article.post', { hasText: 'My feedback' }).locator('.attachment.image img[alt="feedback.png"]').waitFor();
  await shot(bob.page, '25-thread-attachment');
  step('after a reload the history shows the images; a thread reply carries a picture');

  expect(report.cspViolations.length === 0, `CSP violations: ${report.cspViolations.join(' | ')}`);
  console.log(`RESULT ${JSON.stringify(report)}`);
  await browser.close();
  process.exit(0);
} catch (e) {
  console.log(`FAILED ${e.message}`);
  let n = 0;
  for (const context of browser.contexts()) for (const p of context.pages()) await p.screenshot({ path: `${SHOTS}/files-failure-${++n}.png` }).catch(() => {});
  console.log(`RESULT ${JSON.stringify(report)}`);
  await browser.close().catch(() => {});
  process.exit(1);
}
