// The demo SPA for tests/browser/bff.mjs: everything goes through the BFF on the same
// origin. Reads go as plain GETs; writes carry the header the BFF's CSRF check wants.
const $ = (id) => document.getElementById(id);
const CSRF = { 'X-Requested-With': 'lexoffice-bff' };

async function refresh() {
  const r = await fetch('/auth/session', { headers: { Accept: 'application/json' } });
  if (r.status === 401) {
    $('status').textContent = 'Not logged in.';
    $('logged-out').hidden = false;
    $('logged-in').hidden = true;
    return;
  }
  if (!r.ok) {
    $('status').textContent = `The session could not be read (${r.status}).`;
    return;
  }
  const s = await r.json();
  $('status').textContent = 'Logged in.';
  $('name').textContent = s.user?.name ?? '';
  $('email').textContent = s.user?.email ?? '';
  $('sub').textContent = s.user?.sub ?? '';
  $('tenant').textContent = s.tenant ?? '';
  $('scopes').textContent = (s.scopes ?? []).join(' ');
  $('logged-out').hidden = true;
  $('logged-in').hidden = false;
}

$('profile').addEventListener('click', async () => {
  const r = await fetch('/api/v1/profile', { headers: { Accept: 'application/json' } });
  if (!r.ok) {
    $('status').textContent = `The API answered ${r.status}.`;
    return;
  }
  const p = await r.json();
  $('company').textContent = p.companyName ?? '';
  $('organization').textContent = p.organizationId ?? '';
  $('profile-card').hidden = false;
});

$('logout').addEventListener('click', async () => {
  const r = await fetch('/auth/logout', { method: 'POST', headers: CSRF });
  await refresh();
  $('status').textContent = r.ok ? 'Logged out.' : `Logout answered ${r.status}.`;
});

refresh();
