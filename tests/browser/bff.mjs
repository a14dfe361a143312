// Drives a real headless Chromium through the demo SPA (tests/browser/spa) served by
// `lexoffice-login bff`, for cli/tests/bff_browser.rs:
//   the app logged out -> "Log in" -> the sandbox's consent page (pick a user, Allow)
//   -> the app shows the user -> loads /api/v1/profile through the BFF
//   -> a page on another origin tries to log the user out (form POST, and fetch with the
//      CSRF header) -> the user is still logged in -> "Log out".
//
//   node bff.mjs <app-url> <user-sub> <user-data-dir> <network-log.json>
//
// Writes every response the page saw (URL, status, headers, body as text) plus the
// page's storage and document.cookie after each step to <network-log.json>, for the
// Rust test to search for tokens. Prints one JSON line with what the page showed.
// CHROMIUM names the browser (default /usr/bin/chromium); SCREENSHOT_DIR receives one
// PNG per step.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [app, user, userDataDir, logPath] = process.argv.slice(2);
if (!app || !user || !userDataDir || !logPath) {
  console.error('usage: node bff.mjs <app-url> <user-sub> <user-data-dir> <network-log.json>');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const shots = process.env.SCREENSHOT_DIR;
const EVIL = 'http://evil.test';

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

// A response whose page has closed may never give its body: wait a bounded time.
const within = (promise, ms) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), ms))]);

const network = [];
const pending = [];
context.on('response', (response) => {
  pending.push(
    (async () => {
      const entry = {
        url: response.url(),
        status: response.status(),
        headers: await response.allHeaders().catch(() => ({})),
        requestHeaders: await response.request().allHeaders().catch(() => ({})),
        body: '',
      };
      // Redirects have no body.
      try {
        entry.body = (await within(response.body(), 5_000)).toString('utf8');
      } catch {
        entry.body = '';
      }
      network.push(entry);
    })(),
  );
});

const storage = [];
async function snapshot(page, step) {
  const s = await page.evaluate(() => ({
    origin: location.origin,
    cookie: document.cookie,
    localStorage: JSON.stringify({ ...localStorage }),
    sessionStorage: JSON.stringify({ ...sessionStorage }),
    html: document.documentElement.outerHTML,
  }));
  storage.push({ step, ...s });
  if (shots) await page.screenshot({ path: path.join(shots, `${step}.png`), fullPage: true });
}

const result = {};
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);

  // 1. The app, logged out.
  await page.goto(app);
  await page.waitForSelector('#logged-out:not([hidden])');
  result.before = (await page.textContent('#status'))?.trim();
  await snapshot(page, '01-app-logged-out');

  // 2. Log in: the sandbox's consent page.
  await Promise.all([page.waitForSelector('#allow'), page.click('#login')]);
  result.consentClient = (await page.textContent('#client'))?.trim();
  await page.check(`#user-${user}`);
  await snapshot(page, '02-consent');

  // 3. Back in the app, logged in.
  await Promise.all([page.waitForSelector('#logged-in:not([hidden])'), page.click('#allow')]);
  result.afterLogin = {
    url: page.url(),
    status: (await page.textContent('#status'))?.trim(),
    name: (await page.textContent('#name'))?.trim(),
    email: (await page.textContent('#email'))?.trim(),
    sub: (await page.textContent('#sub'))?.trim(),
    tenant: (await page.textContent('#tenant'))?.trim(),
  };
  await snapshot(page, '03-logged-in');

  // 4. The API through the BFF.
  const [apiResponse] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/v1/profile')),
    page.click('#profile'),
  ]);
  await page.waitForSelector('#profile-card:not([hidden])');
  result.profile = {
    status: apiResponse.status(),
    company: (await page.textContent('#company'))?.trim(),
    organization: (await page.textContent('#organization'))?.trim(),
  };
  await snapshot(page, '04-profile');

  // 5. Another origin tries to log the user out.
  const evil = await context.newPage();
  await evil.route(`${EVIL}/**`, (route) =>
    route.fulfill({
      status: 200,
      contentType: 'text/html',
      body: `<!doctype html><title>Another site</title><h1>Another site</h1>
        <form id="f" method="POST" action="${app}/auth/logout">
          <input type="hidden" name="x" value="1"><button id="go">Win a prize</button>
        </form>`,
    }),
  );
  await evil.goto(`${EVIL}/`);
  result.crossSiteFetch = await evil.evaluate(async (target) => {
    try {
      const r = await fetch(`${target}/auth/logout`, {
        method: 'POST',
        credentials: 'include',
        headers: { 'X-Requested-With': 'lexoffice-bff' },
      });
      return `answered ${r.status}`;
    } catch (e) {
      return `blocked: ${e.name}`;
    }
  }, app);
  const [formResponse] = await Promise.all([
    evil.waitForResponse((r) => r.url().endsWith('/auth/logout')),
    evil.click('#go'),
  ]);
  result.crossSiteForm = formResponse.status();
  await evil.waitForLoadState();
  if (shots) await evil.screenshot({ path: path.join(shots, '05-cross-site-refused.png'), fullPage: true });
  await evil.close();
  await page.reload();
  await page.waitForSelector('#logged-in:not([hidden])');
  result.stillLoggedIn = (await page.textContent('#status'))?.trim();
  await snapshot(page, '06-still-logged-in');

  // 7. Log out.
  const [logoutResponse] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/auth/logout')),
    page.click('#logout'),
  ]);
  await page.waitForSelector('#logged-out:not([hidden])');
  result.logout = { status: logoutResponse.status(), text: (await page.textContent('#status'))?.trim() };
  await snapshot(page, '07-logged-out');
  result.sessionAfterLogout = await page.evaluate(async () => (await fetch('/auth/session')).status);
} finally {
  await within(Promise.allSettled(pending), 10_000).catch(() => {});
  fs.writeFileSync(logPath, JSON.stringify({ network, storage }, null, 1));
  await context.close();
}
console.log(JSON.stringify(result));
