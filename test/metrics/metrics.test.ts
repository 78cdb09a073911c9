import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { parseEnv } from '../../src/config.ts'
import { buildTestApp, gql, gqlData, PASSWORD, signUp } from '../helper.ts'
import { LoginDocument, RefreshDocument } from '../support/generated/graphql.ts'
import { buildGmailApp, connectWithTokens } from '../gmail/helpers.ts'

// GET /metrics (METRICS_ENABLED): off by default, optionally behind a bearer token, counters that move with
// logins, refreshes, reuse, Google and vault calls, and never a credential in the output.

const METRICS_TOKEN = 'metrics-scrape-token-0123456789'
const NEAR_EXPIRY_MS = 57 * 60_000 // the emulator's tokens live 3599 s: 57 min later they are inside the 5 min margin

async function scrape (app: FastifyInstance, token?: string) {
  return await app.inject({ method: 'GET', url: '/metrics', headers: token != null ? { authorization: `Bearer ${token}` } : {} })
}

/** `name{a="x",b="y"}` → value, labels sorted, from the Prometheus text format. */
function parse (text: string): Map<string, number> {
  const values = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m == null) continue
    const labels = (m[2] ?? '').split(',').filter(Boolean).sort().join(',')
    values.set(`${m[1]!}{${labels}}`, Number(m[3]))
  }
  return values
}

const value = (metrics: Map<string, number>, name: string, labels: Record<string, string> = {}) =>
  metrics.get(`${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',')}}`)

test('disabled by default: GET /metrics is a 404', async (t) => {
  const { app } = await buildTestApp(t)
  t.equal(app.config.METRICS_ENABLED, false)
  t.equal((await scrape(app)).statusCode, 404)
})

test('enabled: logins, rotations and a reuse move their counters; no credential appears in the output', async (t) => {
  const { app } = await buildTestApp(t, { env: { METRICS_ENABLED: 'true' } })
  const before = await scrape(app)
  t.equal(before.statusCode, 200)
  t.match(before.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const zero = parse(before.body)
  t.equal(value(zero, 'inboxgate_refresh_token_rotations_total', { outcome: 'reuse_detected' }), 0, 'series exist at 0 from the start')
  t.equal(value(zero, 'inboxgate_vault_calls_total', { operation: 'read' }), 0)
  t.ok((value(zero, 'process_resident_memory_bytes') ?? 0) > 0, 'process metrics (RSS)')
  t.ok(value(zero, 'nodejs_eventloop_lag_p99_seconds') != null, 'event-loop delay')

  const user = await signUp(app, 'NATIVE')
  const login = await gqlData(app, LoginDocument, { input: { email: user.email, password: PASSWORD, client: 'NATIVE' } })
  const wrong = await gql(app, LoginDocument, { input: { email: user.email, password: 'not the password at all', client: 'NATIVE' } })
  t.equal(wrong.errors?.[0]?.extensions.code, 'UNAUTHENTICATED')

  const first = login.login.refreshToken as string
  const rotated = await gql(app, RefreshDocument, { refreshToken: first, client: 'NATIVE' })
  t.equal(rotated.errors, undefined)
  const second = rotated.data?.refresh.refreshToken as string
  const third = (await gqlData(app, RefreshDocument, { refreshToken: second, client: 'NATIVE' })).refresh.refreshToken as string
  // `first` is two generations old: reuse, and the family is revoked.
  const reuse = await gql(app, RefreshDocument, { refreshToken: first, client: 'NATIVE' })
  t.equal(reuse.errors?.[0]?.extensions.reason, 'REFRESH_TOKEN_REUSED')
  const ended = await gql(app, RefreshDocument, { refreshToken: third, client: 'NATIVE' })
  t.equal(ended.errors?.[0]?.extensions.reason, 'SESSION_REVOKED')
  t.equal((await gql(app, RefreshDocument, { refreshToken: 'igrt_not-a-real-token', client: 'NATIVE' })).errors?.[0]?.extensions.reason, 'REFRESH_TOKEN_INVALID')

  const res = await scrape(app)
  const m = parse(res.body)
  t.equal(value(m, 'inboxgate_logins_total', { outcome: 'succeeded' }), 1)
  t.equal(value(m, 'inboxgate_logins_total', { outcome: 'failed' }), 1)
  t.equal(value(m, 'inboxgate_refresh_token_rotations_total', { outcome: 'rotated' }), 2)
  t.equal(value(m, 'inboxgate_refresh_token_rotations_total', { outcome: 'reuse_detected' }), 1)
  t.equal(value(m, 'inboxgate_refresh_token_rotations_total', { outcome: 'session_ended' }), 1)
  t.equal(value(m, 'inboxgate_refresh_token_rotations_total', { outcome: 'invalid' }), 1)

  for (const secret of [user.accessToken, user.refreshToken, login.login.accessToken, first, second, third, PASSWORD, user.email, user.user.id]) {
    t.notOk(res.body.includes(secret), 'no credential or identifier in the metrics output')
  }
  t.notOk(res.body.includes(app.config.jwtKeys.current.key.toString('base64url')), 'not the signing key either')
})

test('METRICS_TOKEN: a scrape without the bearer token, or with another one, is refused', async (t) => {
  const { app } = await buildTestApp(t, { env: { METRICS_ENABLED: 'true', METRICS_TOKEN } })
  const none = await scrape(app)
  t.equal(none.statusCode, 401)
  t.equal(none.headers['www-authenticate'], 'Bearer realm="metrics"')
  t.notOk(none.body.includes('inboxgate_'), 'nothing of the metrics')
  t.equal((await scrape(app, `${METRICS_TOKEN}x`)).statusCode, 401)
  t.equal((await scrape(app, METRICS_TOKEN.slice(0, -1))).statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: METRICS_TOKEN } })).statusCode, 401, 'the bare token without "Bearer"')
  const ok = await scrape(app, METRICS_TOKEN)
  t.equal(ok.statusCode, 200)
  t.notOk(ok.body.includes(METRICS_TOKEN), 'the token itself is not in the output')
})

test('a short METRICS_TOKEN is a configuration error', async (t) => {
  t.throws(() => parseEnv({ METRICS_ENABLED: 'true', METRICS_TOKEN: 'short' }), /METRICS_TOKEN: must be at least 16 characters/)
  t.equal(parseEnv({ METRICS_ENABLED: 'yes' }).METRICS_ENABLED, true)
})

test('Google calls, vault calls and Gmail token refreshes are counted; Google tokens never appear', async (t) => {
  const ctx = await buildGmailApp(t, { env: { METRICS_ENABLED: 'true' } })
  const connected = await connectWithTokens(ctx)
  t.equal(connected.data?.connectGmail.status.state, 'ACTIVE')
  const bundle = await ctx.app.vault.get(ctx.user.id)

  let m = parse((await scrape(ctx.app)).body)
  // connectGmail with tokens: tokeninfo (which client), a proof refresh, tokeninfo on the fresh token, the ID token.
  t.equal(value(m, 'inboxgate_google_calls_total', { operation: 'tokeninfo', outcome: 'ok' }), 3)
  t.equal(value(m, 'inboxgate_google_calls_total', { operation: 'token_refresh', outcome: 'ok' }), 1)
  t.equal(value(m, 'inboxgate_google_calls_total', { operation: 'id_token_verify', outcome: 'ok' }), 1)
  t.equal(value(m, 'inboxgate_vault_calls_total', { operation: 'write' }), 1)
  t.equal(value(m, 'inboxgate_vault_calls_total', { operation: 'read' }), 1, 'the read above, by the test')
  t.equal(value(m, 'inboxgate_gmail_token_refreshes_total', { outcome: 'refreshed' }), 0)

  // A fresh token: no refresh, and no vault read from the second call on (the per-process cache).
  await ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id)
  await ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id)
  m = parse((await scrape(ctx.app)).body)
  t.equal(value(m, 'inboxgate_vault_calls_total', { operation: 'read' }), 2)

  ctx.clock.advance(NEAR_EXPIRY_MS)
  const tokens = await Promise.all(Array.from({ length: 20 }, async () => await ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id)))
  t.equal(new Set(tokens).size, 1)
  const res = await scrape(ctx.app)
  m = parse(res.body)
  t.equal(value(m, 'inboxgate_gmail_token_refreshes_total', { outcome: 'refreshed' }), 1, 'one refresh flight for 20 callers')
  t.equal(value(m, 'inboxgate_google_calls_total', { operation: 'token_refresh', outcome: 'ok' }), 2)
  t.equal(value(m, 'inboxgate_vault_calls_total', { operation: 'write' }), 2)

  ctx.google.state.revokeUserAccess('alice@gmail.example')
  ctx.clock.advance(NEAR_EXPIRY_MS)
  await t.rejects(ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id), { code: 'RECONNECT_REQUIRED' })
  m = parse((await scrape(ctx.app)).body)
  t.equal(value(m, 'inboxgate_google_calls_total', { operation: 'token_refresh', outcome: 'invalid_grant' }), 1)
  t.equal(value(m, 'inboxgate_gmail_token_refreshes_total', { outcome: 'invalid_grant' }), 1)
  t.equal(value(m, 'inboxgate_vault_calls_total', { operation: 'delete' }), 1)

  for (const secret of [bundle!.accessToken, bundle!.refreshToken, tokens[0]!, ctx.user.accessToken, 'alice@gmail.example']) {
    t.notOk(res.body.includes(secret), 'no Google token, access token or email in the metrics output')
  }
})
