// What the browser scripts share: signing up through the page, filling a dialog's form, and an
// axe-core audit that fails on serious or critical findings (recorded in the script's report).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** Creates an account through the sign-up form and waits for the live connection. */
export async function register(page, username) {
  await page.getByRole('button', { name: 'No account yet? Create one' }).click();
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Email', { exact: true }).fill(`${username}@example.com`);
  await page.getByLabel('Display name (optional)').fill(username[0].toUpperCase() + username.slice(1));
  await page.getByLabel('Password (at least 8 characters)').fill(`password-${username}`);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.locator('#connection[data-state="open"]').waitFor();
}

/** Fills the dialog titled `title` ([label, value] pairs; selects by value) and submits it. */
export async function dialogForm(page, title, values, submit) {
  const dialog = page.getByRole('dialog', { name: title });
  await dialog.waitFor();
  for (const [label, value] of values) {
    const field = dialog.getByLabel(label, { exact: true });
    if (await field.evaluate((el) => el.tagName === 'SELECT')) await field.selectOption(value);
    else await field.fill(value);
  }
  await dialog.getByRole('button', { name: submit }).click();
  await dialog.waitFor({ state: 'detached' });
}

/** Audits the page with axe-core into `report.axe[view]`; throws on serious or critical findings. */
export async function audit(report, page, view) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  report.axe[view] = { violations: result.violations.length, serious_or_critical: bad.length };
  if (bad.length) {
    throw new Error(`axe on ${view}: ${bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`).join('; ')}`);
  }
}
