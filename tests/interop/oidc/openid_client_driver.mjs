// A relying party built on openid-client (panva's OpenID Certified library), used unmodified and the way a
// portal uses it, driven by the Python interop tests over line-delimited JSON on stdin and stdout.
//
// Each request is one line: {"id": 1, "cmd": "discover", ...parameters}. Each answer is one line:
// {"id": 1, "ok": true, "result": {...}} or {"id": 1, "ok": false, "error": {"name", "message", "code",
// "error", "error_description", "status", "challenges", "cause"}}. A failing call is data for the test, never
// a crash. Nothing but answers goes to stdout; diagnostics go to stderr.
//
// The driver keeps what a portal keeps in its session: the Configuration from discovery, the PKCE verifier,
// state and nonce of the pending authorization request, and the tokens.
//
// Commands:
//   discover          {issuer, client_id, client_secret?, auth?, metadata?}   auth: client_secret_basic
//                     (the default with a secret), client_secret_post, or none (the default without one)
//   authorization_url {redirect_uri, scope, pkce? = true, params?}           -> {url, state, nonce, ...}
//   callback          {url}        authorizationCodeGrant: state, iss, PKCE, ID token (JWKS signature, iss,
//                                  aud, nonce, exp) are checked by the library
//   userinfo          {access_token?}                  fetchUserInfo, expecting the ID token's subject
//   refresh           {refresh_token?}                 refreshTokenGrant
//   revoke            {which = "access" | "refresh" | token}               tokenRevocation with a type hint
//   introspect        {which = "access" | "refresh" | token}               tokenIntrospection
//   end_session_url   {post_logout_redirect_uri}       buildEndSessionUrl with id_token_hint and a state
//   quit

import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'

import * as client from 'openid-client'

const HTTP_TIMEOUT_SECONDS = 10

export class ProtocolError extends Error {
  name = 'ProtocolError'
}

/** What a portal keeps between the steps of a login. */
export function newSession () {
  return { config: null, pending: null, tokens: null, idClaims: null }
}

function required (params, name) {
  const value = params[name]
  if (typeof value !== 'string' || value === '') {
    throw new ProtocolError(`"${name}" must be a non-empty string`)
  }
  return value
}

function configured (session) {
  if (!session.config) throw new ProtocolError('run "discover" first')
  return session.config
}

function clientAuthentication (auth, secret) {
  switch (auth ?? (secret ? 'client_secret_basic' : 'none')) {
    case 'client_secret_basic': return client.ClientSecretBasic(secret)
    case 'client_secret_post': return client.ClientSecretPost(secret)
    case 'none': return client.None()
    default: throw new ProtocolError(`unknown client authentication "${auth}"`)
  }
}

function jwtHeader (jwt) {
  if (typeof jwt !== 'string') return undefined
  return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8'))
}

/** The token endpoint's answer, as the test wants to see it: every field, the ID token's header and claims. */
function describeTokens (response, idClaims) {
  return {
    token_type: response.token_type,
    scope: response.scope,
    expires_in: response.expires_in,
    access_token: response.access_token,
    refresh_token: response.refresh_token,
    id_token: response.id_token,
    id_token_header: jwtHeader(response.id_token),
    claims: idClaims ?? null,
    fields: Object.keys(response).sort()
  }
}

function remember (session, response) {
  const claims = response.claims()
  session.tokens = {
    access_token: response.access_token,
    // a refresh response may keep the refresh token and the ID token it had
    refresh_token: response.refresh_token ?? session.tokens?.refresh_token,
    id_token: response.id_token ?? session.tokens?.id_token
  }
  if (claims) session.idClaims = claims
  return claims
}

function chosenToken (session, which) {
  const choice = which ?? 'access'
  if (choice === 'access' || choice === 'refresh') {
    const token = session.tokens?.[`${choice}_token`]
    if (!token) throw new ProtocolError(`no ${choice} token yet`)
    return { token, hint: `${choice}_token` }
  }
  if (typeof choice === 'string' && choice !== '') return { token: choice, hint: undefined }
  throw new ProtocolError('"which" must be "access", "refresh" or a token')
}

export const commands = {
  async discover (session, params) {
    const issuer = required(params, 'issuer')
    const clientId = required(params, 'client_id')
    const secret = params.client_secret ?? undefined
    const metadata = { ...(params.metadata ?? {}) }
    if (secret) metadata.client_secret = secret
    session.config = await client.discovery(
      new URL(issuer), clientId, metadata, clientAuthentication(params.auth, secret),
      {
        // the test system speaks plain http on 127.0.0.1; without this the library refuses it
        // non-repudiation checks: the ID token's signature is verified against the provider's JWKS as well
        execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
        timeout: HTTP_TIMEOUT_SECONDS
      }
    )
    Object.assign(session, { pending: null, tokens: null, idClaims: null })
    const server = session.config.serverMetadata()
    return { server: { ...server }, supports_pkce: server.supportsPKCE() }
  },

  async authorization_url (session, params) {
    const config = configured(session)
    const redirectUri = required(params, 'redirect_uri')
    const scope = required(params, 'scope')
    const pkce = params.pkce ?? true
    const state = client.randomState()
    const nonce = client.randomNonce()
    const parameters = { redirect_uri: redirectUri, scope, state, nonce, ...(params.params ?? {}) }
    let codeVerifier
    if (pkce) {
      codeVerifier = client.randomPKCECodeVerifier()
      parameters.code_challenge = await client.calculatePKCECodeChallenge(codeVerifier)
      parameters.code_challenge_method = 'S256'
    }
    const url = client.buildAuthorizationUrl(config, parameters)
    session.pending = { codeVerifier, state, nonce }
    return { url: url.href, state, nonce, code_challenge: parameters.code_challenge ?? null }
  },

  async callback (session, params) {
    const config = configured(session)
    const url = new URL(required(params, 'url'))
    if (!session.pending) throw new ProtocolError('run "authorization_url" first')
    const { codeVerifier, state, nonce } = session.pending
    session.pending = null // an authorization response is used once, whatever happens
    const response = await client.authorizationCodeGrant(config, url, {
      pkceCodeVerifier: codeVerifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true
    })
    return describeTokens(response, remember(session, response))
  },

  async userinfo (session, params) {
    const config = configured(session)
    const accessToken = params.access_token ?? session.tokens?.access_token
    if (!accessToken) throw new ProtocolError('no access token yet')
    if (!session.idClaims) throw new ProtocolError('no ID token yet: its subject is the expected one')
    const claims = await client.fetchUserInfo(config, accessToken, session.idClaims.sub)
    return { claims: { ...claims } }
  },

  async refresh (session, params) {
    const config = configured(session)
    const refreshToken = params.refresh_token ?? session.tokens?.refresh_token
    if (!refreshToken) throw new ProtocolError('no refresh token yet')
    const response = await client.refreshTokenGrant(config, refreshToken)
    return describeTokens(response, remember(session, response))
  },

  async revoke (session, params) {
    const config = configured(session)
    const { token, hint } = chosenToken(session, params.which)
    await client.tokenRevocation(config, token, hint ? { token_type_hint: hint } : undefined)
    return { revoked: params.which ?? 'access' }
  },

  async introspect (session, params) {
    const config = configured(session)
    const { token, hint } = chosenToken(session, params.which)
    const answer = await client.tokenIntrospection(config, token, hint ? { token_type_hint: hint } : undefined)
    return { ...answer }
  },

  async end_session_url (session, params) {
    const config = configured(session)
    const postLogoutRedirectUri = required(params, 'post_logout_redirect_uri')
    if (!session.tokens?.id_token) throw new ProtocolError('no ID token yet: it is the id_token_hint')
    const state = client.randomState()
    const url = client.buildEndSessionUrl(config, {
      id_token_hint: session.tokens.id_token,
      post_logout_redirect_uri: postLogoutRedirectUri,
      state
    })
    return { url: url.href, state }
  }
}

/** JSON-safe copy of an error's cause: URLSearchParams, Responses, nested errors, challenge lists. */
function plain (value, depth = 0) {
  if (value === null || value === undefined) return value ?? null
  if (depth > 4) return String(value)
  if (value instanceof URLSearchParams) return Object.fromEntries(value)
  if (value instanceof Response) return { status: value.status, url: value.url }
  if (value instanceof Error) return describeError(value, depth + 1)
  if (Array.isArray(value)) return value.map((item) => plain(item, depth + 1))
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plain(item, depth + 1)]))
  }
  if (typeof value === 'bigint' || typeof value === 'function' || typeof value === 'symbol') return String(value)
  return value
}

export function describeError (err, depth = 0) {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) }
  const described = { name: err.name, message: err.message }
  for (const key of ['code', 'error', 'error_description', 'status']) {
    if (err[key] !== undefined) described[key] = err[key]
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    described.challenges = err.cause.map(({ scheme, parameters }) => ({ scheme, parameters: { ...parameters } }))
  } else if (err.cause !== undefined) {
    described.cause = plain(err.cause, depth)
  }
  return described
}

/** One request line in, one answer object out; never throws. */
export async function handle (session, line) {
  let request
  try {
    request = JSON.parse(line)
  } catch (err) {
    return { id: null, ok: false, error: describeError(new ProtocolError(`not JSON: ${err.message}`)) }
  }
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    return { id: null, ok: false, error: describeError(new ProtocolError('a request is a JSON object')) }
  }
  const { id = null, cmd, ...params } = request
  if (cmd === 'quit') return { id, ok: true, result: {}, quit: true }
  const command = Object.hasOwn(commands, cmd) ? commands[cmd] : undefined
  if (!command) {
    return { id, ok: false, error: describeError(new ProtocolError(`unknown command ${JSON.stringify(cmd)}`)) }
  }
  try {
    return { id, ok: true, result: await command(session, params) }
  } catch (err) {
    return { id, ok: false, error: describeError(err) }
  }
}

async function main () {
  const session = newSession()
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
  for await (const line of lines) {
    if (!line.trim()) continue
    const answer = await handle(session, line)
    process.stdout.write(JSON.stringify(answer) + '\n')
    if (answer.quit) break
  }
  lines.close()
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`openid_client_driver: ${err?.stack ?? err}\n`)
    process.exit(1)
  })
}
