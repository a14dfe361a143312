// Test-only OpenID Provider for the lexoffice-login interop tests (tests/interop.rs).
//
// Runs panva's certified `oidc-provider` on 127.0.0.1 with an ephemeral port and prints
// exactly one line to stdout once it is listening:
//
//     {"issuer":"http://127.0.0.1:PORT"}
//
// Everything else (oidc-provider's own notices, request errors) goes to stderr. The process
// exits when stdin closes (so a killed test harness never leaves it running), and on
// SIGTERM / SIGINT.
//
// Not for production: devInteractions (any login name and password is accepted), plain
// HTTP on loopback, in-memory storage, keys generated at start-up.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

// oidc-provider prints some notices with console.info (stdout). Our stdout carries the
// single JSON line the harness parses, so route every console method to stderr.
for (const method of ['log', 'info', 'debug', 'warn', 'error', 'trace']) {
  const original = console[method].bind(console);
  console[method] = (...args) => {
    if (method === 'warn' || method === 'error' || method === 'trace') {
      original(...args);
    } else {
      console.error(...args);
    }
  };
}

function exit(code) {
  // Do not wait for keep-alive connections to drain.
  process.exit(code);
}

// Exit when the parent goes away: the harness keeps our stdin open for our whole life.
process.stdin.on('end', () => exit(0));
process.stdin.on('close', () => exit(0));
process.stdin.on('error', () => exit(0));
process.stdin.resume();
process.on('SIGTERM', () => exit(0));
process.on('SIGINT', () => exit(0));

const { default: Provider } = await import('oidc-provider');

const REDIRECT_URI = 'http://127.0.0.1:9/callback';

// Signing keys, generated per run. RS256 is the default ID-token algorithm; the EC key
// is there so that the client has to pick the right key by `kid` from a JWKS that holds
// more than one.
function signingKey(type, options, alg) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${crypto.randomUUID()}` };
}

const jwks = {
  keys: [
    signingKey('rsa', { modulusLength: 2048 }, 'RS256'),
    signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
  ],
};

function account(sub) {
  return {
    accountId: sub,
    async claims(_use, _scope, _claims, _rejected) {
      return {
        sub,
        name: `${sub[0]?.toUpperCase() ?? ''}${sub.slice(1)} Example`,
        given_name: `${sub[0]?.toUpperCase() ?? ''}${sub.slice(1)}`,
        family_name: 'Example',
        preferred_username: sub,
        email: `${sub}@example.test`,
        email_verified: true,
      };
    },
  };
}

const configuration = {
  clients: [
    {
      client_id: 'interop-client',
      client_secret: 'interop-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    },
    {
      client_id: 'interop-public',
      token_endpoint_auth_method: 'none',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    },
  ],
  jwks,
  cookies: {
    keys: [crypto.randomBytes(32).toString('base64url')],
  },
  scopes: ['openid', 'profile', 'email', 'offline_access'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  async findAccount(_ctx, sub) {
    return account(sub);
  },
  responseTypes: ['code'],
  // PKCE for every client (oidc-provider only supports S256).
  pkce: {
    required: () => true,
  },
  // By default oidc-provider issues a refresh token only when the client may use the
  // refresh_token grant AND the granted scope includes offline_access (which it strips
  // from requests that carry a `prompt` without `consent`). Our clients always get one.
  async issueRefreshToken(_ctx, client, _code) {
    return client.grantTypeAllowed('refresh_token');
  },
  // A new refresh token on every use; reuse of a rotated one revokes the whole grant.
  rotateRefreshToken: true,
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    introspection: { enabled: true },
  },
  ttl: {
    AccessToken: 300,
    AuthorizationCode: 60,
    IdToken: 300,
    RefreshToken: 3600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
};

const server = http.createServer();

server.on('error', (err) => {
  console.error('provider: server error', err);
  exit(1);
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const provider = new Provider(`http://127.0.0.1:${port}`, configuration);

  for (const event of [
    'server_error',
    'authorization.error',
    'grant.error',
    'userinfo.error',
    'introspection.error',
    'revocation.error',
  ]) {
    provider.on(event, (ctx, err) => {
      console.error(`provider: ${event}: ${err?.name ?? ''} ${err?.message ?? err}${err?.error_description ? ` (${err.error_description})` : ''}`);
    });
  }

  // One stderr line per request ("provider: POST /token -> 200"): the tests read it to
  // check which endpoints a client called.
  provider.use(async (ctx, next) => {
    await next();
    console.error(`provider: ${ctx.method} ${ctx.path} -> ${ctx.status}`);
  });

  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer: provider.issuer })}\n`);
});
