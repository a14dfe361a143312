// Drives a real headless Chromium through a login for tests/cli_browser.rs:
// opens the authorization URL, picks a test user on the sandbox's consent page, clicks
// Allow, and waits for the page that the lexoffice-login CLI answers on its loopback
// redirect URI.
//
//   node consent.mjs <authorization-url> <user-sub> <user-data-dir>
//
// Prints one JSON line on stdout: {"consent": {...}, "title": "...", "message": "..."}.
// Never prints a URL after the redirect (it carries the authorization code).
// CHROMIUM names the browser (default /usr/bin/chromium, Debian's package).
// SCREENSHOT_DIR, when set, receives consent.png and result.png.

import { chromium } from 'playwright-core';
import path from 'node:path';

const [url, user, userDataDir] = process.argv.slice(2);
if (!url || !user || !userDataDir) {
  console.error('usage: node consent.mjs <authorization-url> <user-sub> <user-data-dir>');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const shots = process.env.SCREENSHOT_DIR;

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
  timeout: 60_000,
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  await page.goto(url);
  const consent = {
    heading: (await page.textContent('h1'))?.trim(),
    client: (await page.textContent('#client'))?.trim(),
    scopes: (await page.locator('#scopes code').allTextContents()).map((s) => s.trim()),
  };
  await page.check(`#user-${user}`);
  if (shots) await page.screenshot({ path: path.join(shots, 'consent.png'), fullPage: true });
  await Promise.all([page.waitForSelector('#title'), page.click('#allow')]);
  const title = (await page.textContent('#title'))?.trim();
  const message = (await page.textContent('#message'))?.trim();
  if (shots) await page.screenshot({ path: path.join(shots, 'result.png'), fullPage: true });
  console.log(JSON.stringify({ consent, title, message }));
} finally {
  await context.close();
}
