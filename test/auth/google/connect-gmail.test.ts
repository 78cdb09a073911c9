import { test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { STATE_COOKIE } from '../../../src/auth/google/routes.ts'
import { ALICE, BOB, buildGmailApp, connectWithTokens, GMAIL_READONLY, IOS, WEB } from '../../gmail/helpers.ts'
import type { GmailTestContext } from '../../gmail/helpers.ts'
import { COOKIE, gql, PASSWORD, refreshCookie, signUp } from '../../helper.ts'
import { LoginDocument, RefreshDocument } from '../../support/generated/graphql.ts'

// GET /auth/google?intent=connect_gmail: a signed-in browser connects Gmail to its own user, never signing in as
// whoever owns the Google account picked (docs/security.md item 19a). The attacks: forcing a victim's browser to
// connect the attacker's Google account (login CSRF through a callback URL), replaying the callback, consuming
// user A's state with user B's cookie, and a flow whose session ended while the user was at Google.

const APP_ORIGIN = 'http://localhost:4002'
const ENV = { PUBLIC_URL: 'http://localhost:4000', PUBLIC_ORIGINS: `http://localhost:4000,${APP_ORIGIN}` }
const BACK = `${APP_ORIGIN}/`
const browser = { origin: APP_ORIGIN, 'x-mercurius-operation-name': 'Refresh' }

/** A user signed in with a password in a browser: the refresh cookie it holds. */
async function webUser (ctx: GmailTestContext) {
  const s = await signUp(ctx.app, 'WEB')
  return { id: s.user.id, email: s.email, cookie: refreshCookie(s.response)!.value, sessionId: s.sessionId }
}

interface Started { location: URL, state: string, stateCookie: string, response?: LightMyRequestResponse }

async function startConnect (ctx: GmailTestContext, refresh: string | null, query = `redirectTo=${encodeURIComponent(BACK)}`): Promise<LightMyRequestResponse> {
  return await ctx.app.inject({ url: `/auth/google?intent=connect_gmail&${query}`, cookies: refresh != null ? { [COOKIE]: refresh } : {} })
}

async function started (ctx: GmailTestContext, refresh: string, query?: string): Promise<Started> {
  const res = await startConnect(ctx, refresh, query)
  if (res.statusCode !== 302) throw new Error(`start: ${res.statusCode} ${String(res.headers.location)} ${res.body}`)
  const location = new URL(res.headers.location as string)
  return { location, state: location.searchParams.get('state')!, stateCookie: res.cookies.find((c) => c.name === STATE_COOKIE)!.value, response: res }
}

/** The emulator's consent page: the person picks an account and presses Allow (or Cancel). */
function consent (ctx: GmailTestContext, s: Started, opts: { user?: string, granted?: string[], deny?: boolean } = {}): URL {
  const req = ctx.google.state.validateAuthRequest(Object.fromEntries(s.location.searchParams))
  return new URL(opts.deny === true ? ctx.google.state.deny(req) : ctx.google.state.authorize(req, opts.user ?? ALICE.sub, opts.granted ?? req.scopes).redirect)
}

/** Google's redirect back, in a browser holding these cookies. */
async function callback (ctx: GmailTestContext, redirect: URL, cookies: { state?: string, refresh?: string } = {}): Promise<LightMyRequestResponse> {
  return await ctx.app.inject({
    url: `${redirect.pathname}${redirect.search}`,
    cookies: { ...(cookies.state != null ? { [STATE_COOKIE]: cookies.state } : {}), ...(cookies.refresh != null ? { [COOKIE]: cookies.refresh } : {}) }
  })
}

const gmailOf = async (ctx: GmailTestContext, userId: string) => await ctx.app.gmailConnections.status(userId)

test('a signed-in browser connects Gmail to its own user: no sign-in, no new user, no new cookie, token not rotated', async (t) => {
  const ctx = await buildGmailApp(t, { env: ENV })
  const me = await webUser(ctx)
  const users = await ctx.app.prisma.user.count()
  const before = await ctx.app.prisma.session.findUniqueOrThrow({ where: { id: me.sessionId } })

  const s = await started(ctx, me.cookie)
  const start = s.response!
  t.equal(start.headers['cache-control'], 'no-store')
  const q = s.location.searchParams
  t.same(q.get('scope')!.split(' ').sort(), ['email', GMAIL_READONLY, 'openid'].sort(), 'gmail.readonly with openid email, no profile')
  t.equal(q.get('include_granted_scopes'), 'true')
  t.equal(q.get('access_type'), 'offline')
  t.equal(q.get('prompt'), 'consent')
  t.equal(q.get('code_challenge_method'), 'S256')
  t.equal(s.stateCookie, s.state, 'the state is bound to this browser by its cookie')
  t.notOk(start.cookies.some((c) => c.name === COOKIE), 'the refresh cookie is not rotated to look at it')
  const row = await ctx.app.prisma.oAuthState.findFirstOrThrow({ where: { userId: me.id } })
  t.match(row, { intent: 'CONNECT_GMAIL', userId: me.id, sessionId: me.sessionId, gmail: true }, 'user and session bound in the server-side state')
  const looked = await ctx.app.prisma.session.findUniqueOrThrow({ where: { id: me.sessionId } })
  t.equal(looked.currentTokenHash, before.currentTokenHash, 'the session did not rotate')
  t.same(looked.lastUsedAt, before.lastUsedAt, 'nor count as used')

  // SameSite=Strict: Google's cross-site redirect back brings the state cookie (Lax) but not the refresh cookie.
  const res = await callback(ctx, consent(ctx, s, { user: ALICE.sub }), { state: s.stateCookie })
  t.equal(res.statusCode, 303)
  t.equal(res.headers.location, `${APP_ORIGIN}/?gmail=connected`)
  t.notOk(res.cookies.some((c) => c.name === COOKIE), 'no session cookie set')
  t.match(await gmailOf(ctx, me.id), { state: 'ACTIVE', googleEmail: ALICE.email })
  t.equal(await ctx.app.prisma.user.count(), users, 'nobody created')
  t.equal(await ctx.app.prisma.user.count({ where: { googleSub: ALICE.sub } }), 0, 'the Google account is connected, not linked for sign-in')
  t.equal(await ctx.app.prisma.session.count({ where: { userId: me.id } }), 1, 'no new session')
  t.equal(await ctx.app.prisma.oAuthState.count(), 0, 'the state is used up')

  // The same with the refresh cookie sent along (SameSite=Lax, or Google on the same site): it must be this session's.
  const again = await started(ctx, me.cookie)
  const res2 = await callback(ctx, consent(ctx, again, { user: BOB.sub }), { state: again.stateCookie, refresh: me.cookie })
  t.equal(res2.headers.location, `${APP_ORIGIN}/?gmail=connected&gmail_warning=ACCOUNT_SWITCHED`, 'reports the switch like the sign-in opt-in')
  t.match(await gmailOf(ctx, me.id), { state: 'ACTIVE', googleEmail: BOB.email })

  // Still signed in as myself.
  const refreshed = await gql(ctx.app, RefreshDocument, {}, { headers: browser, cookies: { [COOKIE]: me.cookie } })
  t.equal(refreshed.data?.refresh.user.id, me.id)
  t.notOk(ctx.logs.join('\n').includes(me.cookie), 'the refresh token is not logged')
})

test('not signed in, or a cookie a refresh would refuse: back with gmail_error, Google never asked, nothing stored', async (t) => {
  const ctx = await buildGmailApp(t, { env: ENV })
  const expectBack = async (refresh: string | null, code: string, what: string) => {
    const res = await startConnect(ctx, refresh)
    t.equal(res.statusCode, 303, what)
    t.equal(res.headers.location, `${APP_ORIGIN}/?gmail_error=${code}`, what)
  }
  await expectBack(null, 'UNAUTHENTICATED', 'no cookie')
  await expectBack('igrt_' + 'A'.repeat(43), 'UNAUTHENTICATED', 'an unknown token')
  await expectBack('garbage', 'UNAUTHENTICATED', 'not a token')

  const native = await signUp(ctx.app, 'NATIVE')
  await expectBack(native.refreshToken, 'UNAUTHENTICATED', 'a NATIVE refresh token in the cookie')

  const loggedOut = await webUser(ctx)
  await ctx.app.sessionsService.revoke(loggedOut.sessionId, 'LOGOUT')
  await expectBack(loggedOut.cookie, 'UNAUTHENTICATED', 'a logged-out session')

  const disabled = await webUser(ctx)
  await ctx.app.prisma.user.update({ where: { id: disabled.id }, data: { disabledAt: new Date() } })
  await expectBack(disabled.cookie, 'UNAUTHENTICATED', 'a disabled user')

  const deleting = await webUser(ctx)
  await ctx.app.prisma.user.update({ where: { id: deleting.id }, data: { deletionRequestedAt: new Date() } })
  await expectBack(deleting.cookie, 'UNAUTHENTICATED', 'a user being deleted')

  const idle = await webUser(ctx)
  ctx.clock.advance((ctx.app.config.REFRESH_TOKEN_IDLE_SECONDS + 1) * 1000)
  await expectBack(idle.cookie, 'UNAUTHENTICATED', 'an idle-expired session')

  // A rotated token shown again after the grace window is reuse, exactly as for a refresh: the family ends.
  const copied = await webUser(ctx)
  const rotated = await gql(ctx.app, RefreshDocument, {}, { headers: browser, cookies: { [COOKIE]: copied.cookie } })
  t.equal(rotated.errors, undefined)
  ctx.clock.advance((ctx.app.config.REFRESH_REUSE_GRACE_SECONDS + 1) * 1000)
  await expectBack(copied.cookie, 'UNAUTHENTICATED', 'a rotated token (reuse)')
  t.not((await ctx.app.prisma.session.findUniqueOrThrow({ where: { id: copied.sessionId } })).revokedAt, null, 'the family is revoked')

  t.equal(await ctx.app.prisma.oAuthState.count(), 0, 'no state stored')
  t.equal(ctx.google.state.stats().grantTypes.authorization_code ?? 0, 0, 'Google never asked')

  const bad = await startConnect(ctx, null, `redirectTo=${encodeURIComponent('https://evil.test/')}`)
  t.equal(bad.statusCode, 400, 'redirectTo is judged like the sign-in one: not followed, a page instead')
  t.match(bad.body, /REDIRECT_NOT_ALLOWED/)
  const bogus = await ctx.app.inject({ url: '/auth/google?intent=sign_in_as_someone' })
  t.equal(bogus.statusCode, 400)
  t.match(bogus.body, /BAD_REQUEST/)
})

test('attack: a callback URL for the attacker\'s Google account, opened in the victim\'s browser, connects nothing', async (t) => {
  const ctx = await buildGmailApp(t, { env: ENV })
  const victim = await webUser(ctx)
  const attacker = await webUser(ctx)

  // The attacker starts a connect in their own browser, consents with their Google account, stops at the callback.
  const a = await started(ctx, attacker.cookie)
  const trap = consent(ctx, a, { user: BOB.sub })
  // The victim's browser, signed in, is made to open it: without the state cookie, or with its own flow's.
  let res = await callback(ctx, trap, { refresh: victim.cookie })
  t.equal(res.statusCode, 400)
  t.match(res.body, /STATE_MISMATCH/)
  const own = await started(ctx, victim.cookie)
  res = await callback(ctx, trap, { state: own.stateCookie, refresh: victim.cookie })
  t.equal(res.statusCode, 400)
  t.match(res.body, /STATE_MISMATCH/)
  t.match(await gmailOf(ctx, victim.id), { state: 'NOT_CONNECTED' }, 'the victim has no Gmail connection')
  t.match(await gmailOf(ctx, attacker.id), { state: 'NOT_CONNECTED' })
  t.equal(await ctx.app.prisma.user.count({ where: { googleSub: BOB.sub } }), 0, 'no Google sign-in happened either')

  // A sign-in callback URL does not turn into a connect either: a sign-in state has no user bound.
  const signIn = await ctx.app.inject({ url: `/auth/google?gmail=1&redirectTo=${encodeURIComponent(BACK)}` })
  const signInState = signIn.cookies.find((c) => c.name === STATE_COOKIE)!.value
  res = await callback(ctx, consent(ctx, { location: new URL(signIn.headers.location as string), state: signInState, stateCookie: signInState }, { user: BOB.sub }), { refresh: victim.cookie })
  t.match(res.body, /STATE_MISMATCH/, 'opened in the victim\'s browser: refused')
})

test('attack: replaying the callback, and user A\'s state consumed with user B\'s cookie, fail', async (t) => {
  const ctx = await buildGmailApp(t, { env: ENV })
  const a = await webUser(ctx)
  const b = await webUser(ctx)

  // Replay: the genuine callback works once.
  const s1 = await started(ctx, a.cookie)
  const r1 = consent(ctx, s1)
  let res = await callback(ctx, r1, { state: s1.stateCookie })
  t.equal(res.headers.location, `${APP_ORIGIN}/?gmail=connected`)
  const afterFirst = await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: a.id } })
  res = await callback(ctx, r1, { state: s1.stateCookie })
  t.equal(res.statusCode, 400, 'replayed')
  t.match(res.body, /STATE_INVALID/)
  res = await callback(ctx, r1, { state: s1.stateCookie, refresh: b.cookie })
  t.match(res.body, /STATE_INVALID/, 'replayed with B\'s cookie')
  t.equal((await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: a.id } })).vaultVersion, afterFirst.vaultVersion, 'nothing stored again')

  // A's state (and its browser cookie) with B's refresh cookie: B signed in on that browser meanwhile, or B holds
  // A's state somehow. Google's code is not spent and nobody gets Gmail.
  await ctx.app.gmailConnections.disconnect(a.id)
  const s2 = await started(ctx, a.cookie)
  const codes = ctx.google.state.stats().grantTypes.authorization_code ?? 0
  res = await callback(ctx, consent(ctx, s2, { user: BOB.sub }), { state: s2.stateCookie, refresh: b.cookie })
  t.equal(res.statusCode, 303)
  t.equal(res.headers.location, `${APP_ORIGIN}/?gmail_error=SESSION_MISMATCH`)
  t.equal(ctx.google.state.stats().grantTypes.authorization_code ?? 0, codes, 'the code was not redeemed')
  t.match(await gmailOf(ctx, a.id), { state: 'NOT_CONNECTED' })
  t.match(await gmailOf(ctx, b.id), { state: 'NOT_CONNECTED' })

  // The same user's other session (another browser) is not this flow's session either.
  const aElsewhere = await gql(ctx.app, LoginDocument, { input: { email: a.email, password: PASSWORD, client: 'WEB' } })
  const otherCookie = refreshCookie(aElsewhere.response)!.value
  const s3 = await started(ctx, a.cookie)
  res = await callback(ctx, consent(ctx, s3), { state: s3.stateCookie, refresh: otherCookie })
  t.equal(res.headers.location, `${APP_ORIGIN}/?gmail_error=SESSION_MISMATCH`)

  // A logs out while at Google: the flow's session has ended, so its callback connects nothing.
  const s4 = await started(ctx, a.cookie)
  await ctx.app.sessionsService.revoke(a.sessionId, 'LOGOUT')
  res = await callback(ctx, consent(ctx, s4), { state: s4.stateCookie })
  t.equal(res.headers.location, `${APP_ORIGIN}/?gmail_error=UNAUTHENTICATED`)
  t.match(await gmailOf(ctx, a.id), { state: 'NOT_CONNECTED' })
})

test('outcomes: CONFLICT for a Google account held by another user, SCOPE_MISSING, ACCESS_DENIED, the default page', async (t) => {
  const ctx = await buildGmailApp(t, { env: ENV })
  const me = await webUser(ctx)

  // Bob's Gmail is connected to another user (the iOS path).
  const other = await connectWithTokens(ctx, BOB)
  t.equal(other.errors, undefined)
  const s1 = await started(ctx, me.cookie)
  let res = await callback(ctx, consent(ctx, s1, { user: BOB.sub }), { state: s1.stateCookie })
  t.equal(res.headers.location, `${APP_ORIGIN}/?gmail_error=CONFLICT`)
  t.match(await gmailOf(ctx, me.id), { state: 'NOT_CONNECTED' })
  t.match(await gmailOf(ctx, ctx.user.id), { state: 'ACTIVE', googleEmail: BOB.email }, 'the holder keeps it')

  const s2 = await started(ctx, me.cookie)
  res = await callback(ctx, consent(ctx, s2, { granted: ['openid', 'email'] }), { state: s2.stateCookie })
  t.equal(res.headers.location, `${APP_ORIGIN}/?gmail_error=SCOPE_MISSING`, 'the user unticked Gmail on the consent screen')
  t.match(await gmailOf(ctx, me.id), { state: 'SCOPE_MISSING', missingScopes: [GMAIL_READONLY] })

  const s3 = await started(ctx, me.cookie)
  res = await callback(ctx, consent(ctx, s3, { deny: true }), { state: s3.stateCookie })
  t.equal(res.headers.location, `${APP_ORIGIN}/?gmail_error=ACCESS_DENIED`)

  const s4 = await started(ctx, me.cookie, '')
  res = await callback(ctx, consent(ctx, s4), { state: s4.stateCookie })
  t.equal(res.headers.location, '/auth/google/done?gmail=connected', 'default destination on this server')
  const done = await ctx.app.inject({ url: res.headers.location as string })
  t.match(done.body, /Gmail connected/)
  const failed = await ctx.app.inject({ url: '/auth/google/done?gmail_error=CONFLICT' })
  t.match(failed.body, /Connecting Gmail failed/)
  t.match(failed.body, /already connected to another user/)
})

test('attack: a stale browser session cannot switch the connected mailbox (gmail_error=REAUTH_REQUIRED); the same account and a first connect need no step-up', async (t) => {
  // docs/security.md item 61. REAUTH_MAX_AGE_SECONDS is 60, as in test/accounts/step-up.test.ts.
  const ctx = await buildGmailApp(t, { env: { ...ENV, REAUTH_MAX_AGE_SECONDS: '60' } })
  const me = await webUser(ctx)
  const s1 = await started(ctx, me.cookie)
  let res = await callback(ctx, consent(ctx, s1, { user: ALICE.sub }), { state: s1.stateCookie })
  t.equal(res.headers.location, `${APP_ORIGIN}/?gmail=connected`)
  const held = (await ctx.app.vault.get(me.id))!
  ctx.clock.advance(61_000)

  // Whoever holds this browser's session now (a stolen cookie, an unlocked laptop) picks another Google account.
  const s2 = await started(ctx, me.cookie)
  res = await callback(ctx, consent(ctx, s2, { user: BOB.sub }), { state: s2.stateCookie })
  t.equal(res.headers.location, `${APP_ORIGIN}/?gmail_error=REAUTH_REQUIRED`)
  t.same(await ctx.app.vault.get(me.id), held, 'the held grant stays in the vault')
  t.match(await gmailOf(ctx, me.id), { state: 'ACTIVE', googleEmail: ALICE.email })
  t.ok(ctx.google.state.grantsOf({ user: ALICE.email, clientId: WEB.id }).some((g) => g.refreshTokens.includes(held.refreshToken)), 'and alive at Google')
  t.match(ctx.google.state.revocations({ user: BOB.email }), [{ clientId: WEB.id, by: 'token' }], 'the grant handed in is revoked')
  t.same(ctx.google.state.revocations({ user: ALICE.email }), [])
  const page = await ctx.app.inject({ url: '/auth/google/done?gmail_error=REAUTH_REQUIRED' })
  t.match(page.body, /needs a recent sign-in/)

  // The same Google account again: connected, no step-up.
  const s3 = await started(ctx, me.cookie)
  res = await callback(ctx, consent(ctx, s3, { user: ALICE.sub }), { state: s3.stateCookie })
  t.equal(res.headers.location, `${APP_ORIGIN}/?gmail=connected`)

  // A first connect from a stale session: nothing held, nothing to step up for.
  const you = await webUser(ctx)
  ctx.clock.advance(61_000)
  const s4 = await started(ctx, you.cookie)
  res = await callback(ctx, consent(ctx, s4, { user: BOB.sub }), { state: s4.stateCookie })
  t.equal(res.headers.location, `${APP_ORIGIN}/?gmail=connected`)
  t.match(await gmailOf(ctx, you.id), { state: 'ACTIVE', googleEmail: BOB.email })
})

test('a grant broader than GMAIL_SCOPES from the browser: gmail_error=SCOPE_TOO_BROAD, revoked, nothing stored', async (t) => {
  // docs/security.md item 62. Bob granted gmail.modify to our web client before (through an iOS sign-in with the
  // server client id); include_granted_scopes hands the union back.
  const ctx = await buildGmailApp(t, { env: ENV })
  ctx.google.state.nativeSignIn({ clientId: IOS.id, user: BOB.email, scopes: ['https://www.googleapis.com/auth/gmail.modify'], serverClientId: WEB.id })
  const me = await webUser(ctx)
  const s = await started(ctx, me.cookie)
  const res = await callback(ctx, consent(ctx, s, { user: BOB.sub }), { state: s.stateCookie })
  t.equal(res.headers.location, `${APP_ORIGIN}/?gmail_error=SCOPE_TOO_BROAD`)
  t.match(await gmailOf(ctx, me.id), { state: 'NOT_CONNECTED' })
  t.equal(await ctx.app.vault.get(me.id), null)
  t.match(ctx.google.state.revocations({ user: BOB.email, clientId: WEB.id }), [{ by: 'token' }], 'revoked at Google')
  const page = await ctx.app.inject({ url: '/auth/google/done?gmail_error=SCOPE_TOO_BROAD' })
  t.match(page.body, /more Gmail access than this server keeps/)
})
