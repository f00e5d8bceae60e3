// The peer of bench/oidc_provider.py: panva's oidc-provider (the OpenID-certified Node.js provider),
// configured like Servicekonto's OpenID Provider so that the benchmark compares like with like:
//
//   - issuer http://127.0.0.1:PORT, the endpoints at Servicekonto's paths (/oidc/token, /oidc/userinfo, …);
//   - one ES256 (P-256) signing key, generated at start; ID tokens and JWT access tokens are signed with it;
//   - one confidential client (client_secret_basic) with client_credentials, authorization_code and
//     refresh_token; client_credentials gets an RFC 9068 JWT access token (resource indicators with
//     accessTokenFormat 'jwt', ES256) without naming a resource, as with Servicekonto;
//   - user grants get opaque access tokens for userinfo (oidc-provider's userinfo takes no JWTs), and
//     refresh tokens rotate; introspection, revocation and userinfo are on;
//   - the same kind of store for the same state: grants and refresh tokens in PostgreSQL
//     (./postgres_adapter.mjs), as Servicekonto keeps them in its database; everything short-lived (access
//     tokens, codes, sessions, interactions) in Redis (./redis_adapter.mjs), as Servicekonto does; and the
//     account read from PostgreSQL (one point query), as Servicekonto reads its accounts. Without
//     --postgres-url everything is in Redis and the account too (one GET).
//
// The benchmark needs user tokens (a refresh token per load connection, an access token for userinfo and
// introspection). There is no login page here to drive, so before it listens the server mints them for a
// fixed account through the provider's own models: the Grant, RefreshToken and AccessToken records that its
// authorization code exchange leaves behind. It writes them as JSON to --tokens-file.
//
// Usage: node server.mjs --port 3000 --redis-url redis://127.0.0.1:6379/0 --redis-prefix bench-x: \
//          [--postgres-url postgresql://postgres@127.0.0.1:5432/DB] \
//          --client-secret SECRET --refresh-chains 32 --tokens-file /tmp/tokens.json

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import Redis from 'ioredis';
import Provider from 'oidc-provider';
import pg from 'pg';

import { createTable, postgresAdapter } from './postgres_adapter.mjs';
import { redisAdapter } from './redis_adapter.mjs';

const HOST = '127.0.0.1';
const CLIENT_ID = 'bench';
const REDIRECT_URI = 'http://127.0.0.1:9/cb';
const USER_SCOPE = 'openid profile email offline_access';
const ACCOUNT_ID = 'bench-account-0001';
// The audience of client_credentials tokens; Servicekonto issues them without a `resource` parameter.
const API_RESOURCE = 'urn:servicekonto:bench:api';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379/0' },
    'redis-prefix': { type: 'string' },
    'postgres-url': { type: 'string' },
    'client-secret': { type: 'string' },
    'refresh-chains': { type: 'string', default: '1' },
    'tokens-file': { type: 'string' },
  },
});
for (const required of ['port', 'redis-prefix', 'client-secret', 'tokens-file']) {
  if (!args[required]) {
    throw new Error(`--${required} is required`);
  }
}
const port = Number(args.port);
const issuer = `http://${HOST}:${port}`;

/** A fresh P-256 key as a private JWK: what a deployment would load from its key store. */
function signingKey() {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'ES256', use: 'sig' };
}

const redis = new Redis(args['redis-url'], { maxRetriesPerRequest: 2 });
const prefix = args['redis-prefix'];
// Twenty connections, as each of Servicekonto's pools holds under load (twice its size of 10).
const postgres = args['postgres-url'] ? new pg.Pool({ connectionString: args['postgres-url'], max: 20 }) : null;
// The models Servicekonto keeps in its database (oidc_grants, oidc_refresh_tokens).
const DURABLE = new Set(['Grant', 'RefreshToken']);

/** The one citizen every user token belongs to, with the claims userinfo and ID tokens release. */
const ACCOUNT = {
  sub: ACCOUNT_ID,
  name: 'Erika Mustermann',
  given_name: 'Erika',
  family_name: 'Mustermann',
  preferred_username: 'bench0001',
  email: 'bench0001@example.de',
  email_verified: true,
  locale: 'de',
};

/**
 * oidc-provider leaves accounts to the deployment. Servicekonto reads its accounts from its database, so the
 * peer reads its account from a store too (one Redis GET), rather than from a constant in memory.
 */
async function findAccount(ctx, accountId) {
  let claims;
  if (postgres) {
    const { rows } = await postgres.query({
      name: 'peer-account', text: 'SELECT claims FROM peer_accounts WHERE id = $1', values: [accountId],
    });
    claims = rows[0]?.claims;
  } else {
    const stored = await redis.get(`${prefix}account:${accountId}`);
    claims = stored ? JSON.parse(stored) : undefined;
  }
  return claims ? { accountId, claims: async () => claims } : undefined;
}

/** Per model: PostgreSQL for what Servicekonto keeps in its database, Redis for the rest. */
function adapter() {
  const inRedis = redisAdapter(redis, prefix);
  if (!postgres) {
    return inRedis;
  }
  const inPostgres = postgresAdapter(postgres);
  return class SplitAdapter {
    constructor(name) {
      return DURABLE.has(name) ? new inPostgres(name) : new inRedis(name); // eslint-disable-line new-cap
    }
  };
}

const configuration = {
  adapter: adapter(),
  clients: [{
    client_id: CLIENT_ID,
    client_secret: args['client-secret'],
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [REDIRECT_URI],
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [signingKey()] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  findAccount,
  scopes: ['openid', 'profile', 'email', 'offline_access'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'locale'],
    email: ['email', 'email_verified'],
  },
  routes: {
    authorization: '/oidc/authorize',
    token: '/oidc/token',
    userinfo: '/oidc/userinfo',
    introspection: '/oidc/introspect',
    revocation: '/oidc/revoke',
    jwks: '/jwks',
    end_session: '/oidc/logout',
    pushed_authorization_request: '/oidc/par',
  },
  responseTypes: ['code'],
  rotateRefreshToken: true,
  pkce: { required: () => true },
  // Servicekonto's lifetimes: access and ID tokens 10 minutes, grants and refresh tokens 12 hours.
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    ClientCredentials: 600,
    Grant: 12 * 3600,
    IdToken: 600,
    Interaction: 3600,
    RefreshToken: 12 * 3600,
    Session: 12 * 3600,
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    revocation: { enabled: true, allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // client_credentials without `resource` still gets the API's JWT; user grants keep the userinfo audience.
      defaultResource: async (ctx, client, oneOf) => {
        if (oneOf) {
          return oneOf;
        }
        return ctx.oidc.params?.grant_type === 'client_credentials' ? API_RESOURCE : undefined;
      },
      getResourceServerInfo: async () => ({
        scope: 'api',
        audience: API_RESOURCE,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
      useGrantedResource: async () => false,
    },
  },
};

/** A grant of USER_SCOPE for ACCOUNT_ID, as the consent step of a login would store it. */
async function userGrant(provider, client, authTime) {
  const grant = new provider.Grant({ accountId: ACCOUNT_ID, clientId: CLIENT_ID });
  grant.addOIDCScope(USER_SCOPE);
  const grantId = await grant.save();
  return { accountId: ACCOUNT_ID, client, grantId, gty: 'authorization_code', authTime, expiresWithSession: false };
}

/**
 * What authorization code exchanges for ACCOUNT_ID would have stored: one grant with a RefreshToken per load
 * connection, so that each connection chains its own rotating refresh token (a login per browser), and one
 * more grant with an (opaque) AccessToken for the userinfo and introspection rows.
 */
async function mintUserTokens(provider, refreshChains) {
  const client = await provider.Client.find(CLIENT_ID);
  const authTime = Math.floor(Date.now() / 1000);
  const refreshTokens = [];
  for (let n = 0; n < refreshChains; n += 1) {
    const grant = await userGrant(provider, client, authTime);
    refreshTokens.push(await new provider.RefreshToken({ ...grant, scope: USER_SCOPE }).save());
  }
  const grant = await userGrant(provider, client, authTime);
  const accessToken = await new provider.AccessToken({ ...grant, scope: 'openid profile email' }).save();
  return { refresh_tokens: refreshTokens, access_token: accessToken };
}

if (postgres) {
  await createTable(postgres);
  await postgres.query('CREATE TABLE IF NOT EXISTS peer_accounts (id text PRIMARY KEY, claims jsonb NOT NULL)');
  await postgres.query('INSERT INTO peer_accounts VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET claims = $2',
    [ACCOUNT_ID, ACCOUNT]);
} else {
  await redis.set(`${prefix}account:${ACCOUNT_ID}`, JSON.stringify(ACCOUNT));
}
const provider = new Provider(issuer, configuration);
const tokens = await mintUserTokens(provider, Number(args['refresh-chains']));
writeFileSync(args['tokens-file'], JSON.stringify({ client_id: CLIENT_ID, ...tokens }));

const server = provider.listen(port, HOST);

async function stop() {
  server.close();
  await redis.quit();
  await postgres?.end();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
