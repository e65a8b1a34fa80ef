// Single sign-on in cookie mode, in a real browser: the sign-in page shows the provider's button,
// the round trip through the provider (tests/oidc, which completes interactions by itself) lands on a
// working client — signed in by the HttpOnly cookie alone, socket connected — that survives a reload.
// BASE_URL is a node configured with RUSTCHAT_SECURITY_OAUTH_TOKEN_DELIVERY=cookie.

import { chromium } from 'playwright-core';

const BASE = process.env.BASE_URL;
const SHOTS = process.env.SCREENSHOT_DIR ?? 'target/screenshots';
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-dev-shm-usage'] });
const fail = (m) => { throw new Error(m); };
try {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(20000);
  await page.goto(BASE);
  await page.getByRole('link', { name: 'Single sign-on' }).click();
  await page.waitForURL(`${BASE}/**`);
  await page.locator('#connection[data-state="open"]').waitFor();
  const me = await page.locator('.me').textContent();
  if (me !== '@alice') fail(`signed in as ${me}`);
  const held = await page.evaluate(() => ({ cookie: document.cookie, storage: Object.keys(sessionStorage).concat(Object.keys(localStorage)) }));
  if (held.cookie.includes('rustchat_access')) fail('the access cookie is readable by the page');
  if (held.storage.some((k) => k.includes('refresh'))) fail(`the page stored a token: ${held.storage}`);
  await page.getByRole('button', { name: 'Create a team' }).first().click();
  const team = page.getByRole('dialog', { name: 'Create a team' });
  await team.getByLabel('Team name', { exact: true }).fill('SSO team');
  await team.getByLabel('URL name (a-z, 0-9, - and _)', { exact: true }).fill('sso-team');
  await team.getByRole('button', { name: 'Create team' }).click();
  await page.getByRole('button', { name: '+ New channel' }).click();
  const channel = page.getByRole('dialog', { name: 'Create a channel' });
  await channel.getByLabel('Name', { exact: true }).fill('hello');
  await channel.getByLabel('URL name (a-z, 0-9, - and _)', { exact: true }).fill('hello');
  await channel.getByRole('button', { name: 'Create channel' }).click();
  await page.locator('#messages[data-loaded="true"]').waitFor();
  await page.locator('#composer textarea').fill('Signed in by single sign-on');
  await page.locator('#composer textarea').press('Enter');
  await page.locator('#messages article.post', { hasText: 'Signed in by single sign-on' }).waitFor();
  await page.reload();
  await page.locator('#connection[data-state="open"]').waitFor();
  await page.locator('#messages article.post', { hasText: 'Signed in by single sign-on' }).waitFor();
  await page.screenshot({ path: `${SHOTS}/08-sso-cookie-mode.png` });
  console.log('RESULT ok');
  await browser.close();
} catch (e) {
  console.log(`FAILED ${e.message}`);
  await browser.close().catch(() => {});
  process.exit(1);
}
