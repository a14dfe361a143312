// Logs in once at an OpenID provider, as a browser would, for benches/token_endpoint.sh:
//
//   node benches/oauth_session.mjs ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI SCOPE
//
// Follows the authorization request through the provider's login and consent pages
// (oidc-provider's dev interactions take any name; the sandbox answers with a code at
// once), exchanges the code, and prints one JSON line with what the wrk scripts need:
// the session cookie (so that later authorization requests get a code without a page),
// a refresh token, the token and authorization paths, the PKCE pair and the Basic
// authorization header. Node's built-in fetch; no packages.

import * as crypto from 'node:crypto';

const [issuer, clientId, clientSecret, redirectUri, scope] = process.argv.slice(2);
if (!scope) {
  console.error('usage: oauth_session.mjs ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI SCOPE');
  process.exit(2);
}

const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
const verifier = crypto.randomBytes(32).toString('base64url');
const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
const auth = new URL(discovery.authorization_endpoint);
for (const [k, v] of Object.entries({
  response_type: 'code',
  client_id: clientId,
  redirect_uri: redirectUri,
  scope,
  state: 'bench-state',
  nonce: 'bench-nonce',
  code_challenge: challenge,
  code_challenge_method: 'S256',
})) {
  auth.searchParams.set(k, v);
}

// A cookie jar of name=value pairs (one host, loopback).
const jar = new Map();
const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
function keepCookies(res) {
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    const [name, value] = [pair.slice(0, i).trim(), pair.slice(i + 1).trim()];
    if (value === '' || /expires=Thu, 01 Jan 1970/i.test(c)) jar.delete(name);
    else jar.set(name, value);
  }
}

// Follows redirects and submits login (any name) and consent forms until the redirect
// to the client.
async function authorize() {
  let next = { url: auth.href };
  for (let step = 0; step < 10; step += 1) {
    const res = await fetch(next.url, {
      method: next.form ? 'POST' : 'GET',
      redirect: 'manual',
      headers: {
        cookie: cookieHeader(),
        ...(next.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      body: next.form ? new URLSearchParams(next.form).toString() : undefined,
    });
    keepCookies(res);
    const location = res.headers.get('location');
    if (location) {
      const target = new URL(location, next.url);
      if (target.href.startsWith(redirectUri)) return target.searchParams.get('code');
      next = { url: target.href };
      continue;
    }
    const html = await res.text();
    const form = html.match(/<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/);
    if (!res.ok || !form) throw new Error(`${next.url} answered ${res.status} without a form`);
    const fields = {};
    for (const input of form[2].matchAll(/<input[^>]*>/g)) {
      const name = input[0].match(/\sname="([^"]*)"/)?.[1];
      if (name) fields[name] = input[0].match(/\svalue="([^"]*)"/)?.[1] ?? '';
    }
    if (fields.prompt === 'login') Object.assign(fields, { login: 'alice', password: 'bench' });
    next = { url: new URL(form[1], next.url).href, form: fields };
  }
  throw new Error('no redirect to the client after 10 requests');
}

const basic = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
const code = await authorize();
const res = await fetch(discovery.token_endpoint, {
  method: 'POST',
  headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
  }).toString(),
});
const tokens = await res.json();
if (!res.ok || !tokens.refresh_token || !tokens.id_token) {
  throw new Error(`token endpoint: ${res.status} ${JSON.stringify(tokens)}`);
}
// The second authorization must need no page: the session (and its grant) answers it.
if (!(await authorize())) throw new Error('the second authorization needed a page');

const path = (u) => { const x = new URL(u); return x.pathname + x.search; };
process.stdout.write(`${JSON.stringify({
  cookie: cookieHeader(),
  refresh_token: tokens.refresh_token,
  token_path: path(discovery.token_endpoint),
  authorize_path: path(auth.href),
  redirect_uri: redirectUri,
  verifier,
  basic,
  id_token_alg: JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url')).alg,
})}\n`);
