import { createDecoder } from 'fast-jwt'
import { test } from 'tap'
import { ManualClock } from '../../src/clock.ts'
import { hashRefreshToken } from '../../src/sessions/refresh-tokens.ts'
import { buildTestApp, browserHeaders, COOKIE, gql, gqlData, PASSWORD, refreshCookie, signUp } from '../helper.ts'
import { LoginDocument, LogoutDocument, MeDocument, RefreshDocument, RevokeSessionDocument, SessionsDocument } from '../support/generated/graphql.ts'

// docs/security.md items 1–6: rotation, reuse detection, grace window, lifetimes, hashed storage, logout.

test('NATIVE: every refresh rotates; reuse after the grace window revokes the whole family', async (t) => {
  const clock = new ManualClock()
  const { app } = await buildTestApp(t, { clock })
  const first = await signUp(app, 'NATIVE')
  t.match(first.refreshToken, /^igrt_[A-Za-z0-9_-]{43}$/, 'opaque 256-bit token in the body')
  t.equal(refreshCookie(first.response), undefined, 'no cookie for NATIVE clients')

  const r1 = await gql(app, RefreshDocument, { refreshToken: first.refreshToken, client: 'NATIVE' })
  t.equal(r1.errors, undefined)
  const second = r1.data?.refresh.refreshToken
  t.not(second, first.refreshToken, 'rotated')
  t.equal(r1.data?.refresh.sessionId, first.sessionId, 'same session (family)')

  const r2 = await gql(app, RefreshDocument, { refreshToken: second, client: 'NATIVE' })
  const third = r2.data?.refresh.refreshToken
  t.not(third, second)

  // The first token is two generations old: reuse, whatever the time.
  const reuse = await gql(app, RefreshDocument, { refreshToken: first.refreshToken, client: 'NATIVE' })
  t.equal(reuse.errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
  t.equal(reuse.errors?.[0]?.extensions.reason, 'REFRESH_TOKEN_REUSED')

  // Every descendant dies with the family.
  const after = await gql(app, RefreshDocument, { refreshToken: third, client: 'NATIVE' })
  t.equal(after.errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
  t.equal(after.errors?.[0]?.extensions.reason, 'SESSION_REVOKED')

  const events = await app.prisma.securityEvent.findMany({ where: { type: 'REFRESH_TOKEN_REUSE_DETECTED' } })
  t.equal(events.length, 1, 'security event recorded')
  t.equal(events[0]?.sessionId, first.sessionId)
  const session = await app.prisma.session.findUniqueOrThrow({ where: { id: first.sessionId } })
  t.equal(session.revokedReason, 'REFRESH_TOKEN_REUSE')
})

test('the previous token after the grace window is reuse', async (t) => {
  const clock = new ManualClock()
  const { app } = await buildTestApp(t, { clock, env: { REFRESH_REUSE_GRACE_SECONDS: '10' } })
  const first = await signUp(app, 'NATIVE')
  const r1 = await gql(app, RefreshDocument, { refreshToken: first.refreshToken, client: 'NATIVE' })
  t.equal(r1.errors, undefined)

  clock.advance(5_000)
  const inGrace = await gql(app, RefreshDocument, { refreshToken: first.refreshToken, client: 'NATIVE' })
  t.equal(inGrace.data?.refresh.refreshToken, r1.data?.refresh.refreshToken, 'inside the window: the same successor')

  clock.advance(6_000)
  const late = await gql(app, RefreshDocument, { refreshToken: first.refreshToken, client: 'NATIVE' })
  t.equal(late.errors?.[0]?.extensions.reason, 'REFRESH_TOKEN_REUSED', 'outside the window: reuse')
  const successor = await gql(app, RefreshDocument, { refreshToken: r1.data?.refresh.refreshToken, client: 'NATIVE' })
  t.equal(successor.errors?.[0]?.extensions.code, 'UNAUTHENTICATED', 'family revoked')
})

test('concurrent refreshes with one token converge on one successor and log nobody out', async (t) => {
  const { app } = await buildTestApp(t)
  const first = await signUp(app, 'NATIVE')
  const results = await Promise.all(Array.from({ length: 8 }, async () =>
    await gql(app, RefreshDocument, { refreshToken: first.refreshToken, client: 'NATIVE' })))
  for (const r of results) t.equal(r.errors, undefined, 'every concurrent refresh succeeds')
  const successors = new Set(results.map((r) => r.data?.refresh.refreshToken))
  t.equal(successors.size, 1, 'all converge on one successor')
  const [successor] = [...successors]
  const next = await gql(app, RefreshDocument, { refreshToken: successor, client: 'NATIVE' })
  t.equal(next.errors, undefined, 'the successor works: no family revocation')
  t.equal(await app.prisma.securityEvent.count({ where: { type: 'REFRESH_TOKEN_REUSE_DETECTED' } }), 0)
})

test('WEB: the refresh token travels only in a hardened cookie, and concurrent refreshes set the same one', async (t) => {
  const { app } = await buildTestApp(t)
  const first = await signUp(app, 'WEB')
  t.equal(first.refreshToken, null, 'never in the body for WEB')
  const cookie = refreshCookie(first.response)
  t.ok(cookie, 'cookie set')
  t.equal(cookie?.name, COOKIE, '__Host- prefix')
  t.equal(cookie?.httpOnly, true)
  t.equal(cookie?.secure, true)
  t.equal(cookie?.sameSite, 'Strict')
  t.equal(cookie?.path, '/')
  t.equal(cookie?.domain, undefined, 'host-only')
  t.match(first.response.headers['set-cookie'], /HttpOnly/)

  const [a, b] = await Promise.all([1, 2].map(async () =>
    await gql(app, RefreshDocument, { client: 'WEB' }, { headers: browserHeaders, cookies: { [COOKIE]: cookie!.value } })))
  t.equal(a!.errors, undefined)
  t.equal(b!.errors, undefined)
  t.equal(a!.data?.refresh.refreshToken, null)
  t.equal(refreshCookie(a!.response)?.value, refreshCookie(b!.response)?.value, 'the losing response sets the winner’s cookie')
  t.not(refreshCookie(a!.response)?.value, cookie!.value, 'rotated')
})

test('a token is only accepted through its own channel', async (t) => {
  const { app } = await buildTestApp(t)
  const native = await signUp(app, 'NATIVE')
  const viaCookie = await gql(app, RefreshDocument, { client: 'WEB' }, { headers: browserHeaders, cookies: { [COOKIE]: native.refreshToken } })
  t.equal(viaCookie.errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
  const web = await signUp(app, 'WEB')
  const webToken = refreshCookie(web.response)!.value
  const viaBody = await gql(app, RefreshDocument, { refreshToken: webToken, client: 'NATIVE' })
  t.equal(viaBody.errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
  const bodyForWeb = await gql(app, RefreshDocument, { refreshToken: webToken, client: 'WEB' }, { headers: browserHeaders })
  t.equal(bodyForWeb.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  const garbage = await gql(app, RefreshDocument, { refreshToken: 'igrt_nope', client: 'NATIVE' })
  t.equal(garbage.errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
  const none = await gql(app, RefreshDocument, { client: 'NATIVE' })
  t.equal(none.errors?.[0]?.extensions.reason, 'REFRESH_TOKEN_MISSING')
})

test('absolute lifetime and idle timeout end a session', async (t) => {
  const clock = new ManualClock()
  const { app } = await buildTestApp(t, {
    clock, env: { REFRESH_TOKEN_TTL_SECONDS: '3600', REFRESH_TOKEN_IDLE_SECONDS: '600' }
  })
  // Idle: unused for longer than the idle timeout.
  const idle = await signUp(app, 'NATIVE')
  clock.advance(601_000)
  const r = await gql(app, RefreshDocument, { refreshToken: idle.refreshToken, client: 'NATIVE' })
  t.equal(r.errors?.[0]?.extensions.reason, 'SESSION_EXPIRED')

  // Absolute: used often, but past its end.
  const busy = await signUp(app, 'NATIVE')
  let token = busy.refreshToken
  for (let i = 0; i < 7; i++) {
    clock.advance(500_000)
    const res = await gql(app, RefreshDocument, { refreshToken: token, client: 'NATIVE' })
    t.equal(res.errors, undefined, `in use and inside the absolute lifetime (${(i + 1) * 500} s)`)
    token = res.data?.refresh.refreshToken ?? ''
  }
  clock.advance(500_000)
  const end = await gql(app, RefreshDocument, { refreshToken: token, client: 'NATIVE' })
  t.equal(end.errors?.[0]?.extensions.reason, 'SESSION_EXPIRED', 'past 3600 s the session is over')
  t.ok(await app.prisma.securityEvent.count({ where: { type: 'SESSION_EXPIRED' } }) >= 2)
})

test('refresh tokens are stored hashed: the database holds nothing replayable', async (t) => {
  const { app } = await buildTestApp(t)
  const first = await signUp(app, 'NATIVE')
  const r1 = await gql(app, RefreshDocument, { refreshToken: first.refreshToken, client: 'NATIVE' })
  const current = r1.data?.refresh.refreshToken as string
  const dump = JSON.stringify(await app.prisma.session.findMany()) + JSON.stringify(await app.prisma.retiredRefreshToken.findMany()) +
    JSON.stringify(await app.prisma.securityEvent.findMany())
  t.notMatch(dump, first.refreshToken)
  t.notMatch(dump, current)
  t.match(dump, hashRefreshToken(current), 'only the hash')
  // Replaying the stored hash as a token gets nowhere.
  const row = await app.prisma.session.findUniqueOrThrow({ where: { id: first.sessionId } })
  const replay = await gql(app, RefreshDocument, { refreshToken: row.currentTokenHash, client: 'NATIVE' })
  t.equal(replay.errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
})

test('logout revokes server-side; the access token stops at once', async (t) => {
  const { app } = await buildTestApp(t, { env: { ACCESS_TOKEN_TTL_SECONDS: '900' } })
  const web = await signUp(app, 'WEB')
  const cookie = refreshCookie(web.response)!.value
  const out = await gql(app, LogoutDocument, {}, { token: web.accessToken })
  t.equal(out.data?.logout, true)
  const cleared = refreshCookie(out.response)
  t.equal(cleared?.value, '', 'cookie cleared')
  t.ok(cleared?.expires != null && cleared.expires.getTime() <= Date.now(), 'cookie expired')

  const r = await gql(app, RefreshDocument, { client: 'WEB' }, { headers: browserHeaders, cookies: { [COOKIE]: cookie } })
  t.equal(r.errors?.[0]?.extensions.reason, 'SESSION_REVOKED', 'refresh token dead after logout')

  // The live-session check: an unexpired, correctly signed access token of an ended session is refused.
  const me = await gql(app, MeDocument, {}, { token: web.accessToken })
  t.match(me.errors?.[0]?.extensions, { code: 'UNAUTHENTICATED', reason: 'SESSION_REVOKED' }, 'access token refused inside its lifetime')
  const claims = createDecoder()(web.accessToken) as { iat: number, exp: number }
  t.equal(claims.exp - claims.iat, 900, 'and it expires 15 minutes after issue')
  t.ok(new Date(web.accessTokenExpiresAt).getTime() === claims.exp * 1000)
  const events = await app.prisma.securityEvent.findMany({ where: { type: 'LOGOUT' } })
  t.equal(events.length, 1)
})

test('after its lifetime (plus the clock skew) an access token is refused', async (t) => {
  // Tokens issued 15 min 31 s ago by a server whose clock says so.
  const clock = new ManualClock(Date.now() - (900 + 31) * 1000)
  const { app } = await buildTestApp(t, { clock })
  const s = await signUp(app, 'NATIVE')
  await gql(app, LogoutDocument, {}, { token: s.accessToken })
  const me = await gql(app, MeDocument, {}, { token: s.accessToken })
  t.equal(me.errors?.[0]?.extensions.reason, 'ACCESS_TOKEN_EXPIRED')
})

test('logout everywhere, and sessions listed and revoked one by one', async (t) => {
  const { app } = await buildTestApp(t)
  const a = await signUp(app, 'NATIVE')
  const login = async () => (await gqlData(app, LoginDocument,
    { input: { email: a.email, password: PASSWORD, client: 'NATIVE' } }, { headers: { 'user-agent': 'PayPulse/1.0 iOS' } })).login
  const b = await login()
  const c = await login()

  const list = await gql(app, SessionsDocument, {}, { token: b.accessToken })
  t.equal(list.data?.sessions.length, 3)
  t.same(list.data?.sessions.filter((s) => s.current).map((s) => s.id), [b.sessionId], 'current flagged')
  t.ok(list.data?.sessions.some((s) => s.userAgent === 'PayPulse/1.0 iOS'))

  // Revoke one session: only that one dies.
  const revoked = await gql(app, RevokeSessionDocument, { id: c.sessionId }, { token: b.accessToken })
  t.equal(revoked.data?.revokeSession, true)
  t.ok((await gql(app, RefreshDocument, { refreshToken: c.refreshToken, client: 'NATIVE' })).errors)
  const bRefreshed = await gql(app, RefreshDocument, { refreshToken: b.refreshToken, client: 'NATIVE' })
  t.equal(bRefreshed.errors, undefined, 'the others live on')

  // Someone else's session id is not found, not revoked.
  const other = await signUp(app, 'NATIVE')
  const foreign = await gql(app, RevokeSessionDocument, { id: a.sessionId }, { token: other.accessToken })
  t.equal(foreign.errors?.[0]?.extensions.code, 'NOT_FOUND')
  t.equal((await app.prisma.session.findUniqueOrThrow({ where: { id: a.sessionId } })).revokedAt, null)

  const everywhere = await gql(app, LogoutDocument, { everywhere: true }, { token: a.accessToken })
  t.equal(everywhere.data?.logout, true)
  for (const token of [a.refreshToken, bRefreshed.data?.refresh.refreshToken]) {
    t.equal((await gql(app, RefreshDocument, { refreshToken: token, client: 'NATIVE' })).errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
  }
  t.equal((await gql(app, RefreshDocument, { refreshToken: other.refreshToken, client: 'NATIVE' })).errors, undefined, 'other users untouched')
})

test('refresh tokens never appear in logs', async (t) => {
  const { app, logs } = await buildTestApp(t)
  const s = await signUp(app, 'NATIVE')
  const r = await gqlData(app, RefreshDocument, { refreshToken: s.refreshToken, client: 'NATIVE' })
  await gql(app, RefreshDocument, { refreshToken: s.refreshToken + 'x', client: 'NATIVE' })
  const web = await signUp(app, 'WEB')
  await gql(app, MeDocument, {}, { token: web.accessToken })
  const all = logs.join('\n')
  t.ok(logs.length > 0, 'something was logged')
  for (const secret of [s.refreshToken, r.refresh.refreshToken!, s.accessToken, web.accessToken, refreshCookie(web.response)!.value, PASSWORD]) {
    t.notOk(all.includes(secret), 'no token or password in the logs')
  }
})

test('the sessions list is capped at 100 per page', async (t) => {
  const { app } = await buildTestApp(t)
  const s = await signUp(app, 'NATIVE')
  // Rows made directly: 120 logins through Argon2 would only slow the test down.
  await app.prisma.session.createMany({
    data: Array.from({ length: 120 }, (_, i) => ({
      userId: s.user.id, clientKind: 'NATIVE' as const, currentTokenHash: `hash-${i}`, expiresAt: new Date(Date.now() + 3_600_000)
    }))
  })
  const page = async (first: number) => (await gqlData(app, SessionsDocument, { first }, { token: s.accessToken })).sessions.length
  t.equal(await page(1000), 100, 'asking for 1,000 gives 100')
  t.equal(await page(5), 5)
  t.equal(await page(0), 1, 'at least one')
})
