import { createHash, generateKeyPairSync } from 'node:crypto'
import { SignJWT } from 'jose'
import { test } from 'tap'
import { startAppleEmulator } from '../../../emulators/apple/app.ts'
import type { RunningAppleEmulator } from '../../../emulators/apple/app.ts'
import { buildTestApp, gql, PASSWORD, signUp } from '../../helper.ts'
import { DeleteAccountDocument, LinkAppleDocument, LoginDocument, MeDocument, RefreshDocument, SignInWithAppleDocument, UnlinkAppleDocument } from '../../support/generated/graphql.ts'

// docs/security.md items "Sign in with Apple": ID-token verification (forged, wrong aud, wrong nonce, expired),
// linking rules and step-up, server-to-server notifications (forged and genuine), the web flow's state and nonce.

const NATIVE = 'com.example.inboxgate'
const WEB = 'com.example.inboxgate.web'
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')

/** The wall clock, shifted: Apple's tokens are dated by the wall clock, and the machine is slow enough to matter. */
class ShiftedClock {
  offsetMs = 0
  now (): Date { return new Date(Date.now() + this.offsetMs) }
}

async function setup (t: Parameters<typeof buildTestApp>[0], clock = new ShiftedClock(), env: Record<string, string> = {}) {
  const emulator: RunningAppleEmulator = await startAppleEmulator({ clients: [{ id: NATIVE, redirectUris: [] }, { id: WEB, redirectUris: ['http://127.0.0.1:4000/auth/apple/callback'] }] })
  t.teardown(async () => { await emulator.close() })
  const { app, logs } = await buildTestApp(t, {
    clock,
    env: {
      APPLE_CLIENT_IDS: `${NATIVE},${WEB}`,
      APPLE_WEB_CLIENT_ID: WEB,
      APPLE_API_BASE_URL: emulator.baseUrl,
      APPLE_TEAM_ID: emulator.state.developer.teamId,
      APPLE_KEY_ID: emulator.state.developer.keyId,
      APPLE_PRIVATE_KEY: emulator.state.developerKeyPem().replace(/\n/g, '\\n'),
      PUBLIC_URL: 'http://127.0.0.1:4000',
      ...env
    }
  })
  const mint = async (body: Record<string, unknown>) => (await emulator.app.inject({ method: 'POST', url: '/__emulator/id-token', payload: { client_id: NATIVE, ...body } })).json<{ idToken: string, sub: string, email: string }>()
  const notification = async (body: Record<string, unknown>) => (await emulator.app.inject({ method: 'POST', url: '/__emulator/notify', payload: { client_id: NATIVE, ...body } })).json<{ payload: string }>().payload
  const notify = async (payload: string) => await app.inject({ method: 'POST', url: '/apple/notifications', payload: { payload } })
  return { app, logs, clock, emulator, mint, notification, notify }
}

test('signInWithApple: a new user (private relay, name of the first sign-in), then the same user by sub', async (t) => {
  const { app, mint, logs } = await setup(t)
  const nonce = 'raw-nonce-from-the-app'
  const first = await mint({ email: 'dana@example.com', hide_email: true, nonce: sha256(nonce) })
  t.match(first.email, /@privaterelay\.appleid\.com$/)
  const res = await gql(app, SignInWithAppleDocument, { idToken: first.idToken, nonce, name: 'Dana Scully' })
  t.equal(res.errors, undefined, JSON.stringify(res.errors))
  const user = await app.prisma.user.findUniqueOrThrow({ where: { appleSub: first.sub } })
  t.match(user, { email: first.email, emailVerified: true, name: 'Dana Scully' })
  t.ok(res.data?.signInWithApple.refreshToken, 'NATIVE by default: the refresh token in the body')

  // Later sign-ins: Apple sends no name; a different one given by a client does not overwrite it.
  const again = await gql(app, SignInWithAppleDocument, { idToken: (await mint({ email: 'dana@example.com', hide_email: true })).idToken, name: 'Someone Else' })
  t.equal(again.data?.signInWithApple.user.id, user.id)
  t.equal((await app.prisma.user.findUniqueOrThrow({ where: { id: user.id } })).name, 'Dana Scully')
  t.notOk(logs.some((l) => l.includes(first.idToken)), 'no ID token in the logs')
})

test('forged, foreign, expired and replayed Apple ID tokens are refused', async (t) => {
  const { app, mint, emulator } = await setup(t)
  const good = await mint({ email: 'eve@example.com' })
  const kid = JSON.parse(Buffer.from(good.idToken.split('.')[0]!, 'base64url').toString()).kid as string
  const applePublicJwk = JSON.stringify((await emulator.app.inject({ method: 'GET', url: '/auth/keys' })).json().keys[0])
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const now = Math.floor(Date.now() / 1000)
  const claims = { iss: 'https://appleid.apple.com', aud: NATIVE, sub: good.sub, email: 'eve@example.com', email_verified: true, iat: now, exp: now + 600 }
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const cases: Array<[string, string, string?]> = [
    ['signed by another key under Apple\'s kid', await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(privateKey)],
    ['alg none', `${b64({ alg: 'none', kid })}.${b64(claims)}.`],
    ['HS256 keyed with Apple\'s public key', await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid }).sign(Buffer.from(applePublicJwk))],
    ['wrong aud (another app\'s token)', (await mint({ email: 'eve@example.com', client_id: 'com.attacker.app' })).idToken],
    ['wrong iss', (await mint({ email: 'eve@example.com', claims: { iss: 'https://attacker.example' } })).idToken],
    ['expired', (await mint({ email: 'eve@example.com', claims: { iat: now - 3600, exp: now - 600 } })).idToken],
    ['wrong nonce', (await mint({ email: 'eve@example.com', nonce: sha256('the nonce of another request') })).idToken, 'my-nonce'],
    ['nonce expected, none in the token', good.idToken, 'my-nonce'],
    ['tampered payload', `${good.idToken.split('.')[0]}.${b64({ ...claims, sub: 'someone-else' })}.${good.idToken.split('.')[2]}`]
  ]
  for (const [name, idToken, nonce] of cases) {
    const res = await gql(app, SignInWithAppleDocument, { idToken, ...(nonce != null ? { nonce } : {}) })
    t.match(res.errors?.[0]?.extensions, { code: 'UNAUTHENTICATED', reason: 'APPLE_ID_TOKEN_INVALID' }, name)
  }
  t.equal(await app.prisma.user.count({ where: { appleSub: { not: null } } }), 0, 'no user created by any of them')
  t.equal((await gql(app, SignInWithAppleDocument, { idToken: good.idToken })).errors, undefined, 'control: the genuine token works')
})

test('an existing verified email is not taken over; link and unlink need step-up, as for Google', async (t) => {
  // Every sign-in counts as too old for step-up: only the password lets link and unlink through.
  const { app, mint } = await setup(t, new ShiftedClock(), { REAUTH_MAX_AGE_SECONDS: '0' })
  const owner = await signUp(app, 'NATIVE', 'frank@example.com')
  await app.prisma.user.update({ where: { id: owner.user.id }, data: { emailVerified: true } })
  const apple = await mint({ email: 'frank@example.com' })
  const taken = await gql(app, SignInWithAppleDocument, { idToken: apple.idToken })
  t.match(taken.errors?.[0]?.extensions, { code: 'CONFLICT', reason: 'ACCOUNT_EXISTS' }, 'no silent takeover of a verified password account')
  t.equal(await app.prisma.securityEvent.count({ where: { type: 'UNVERIFIED_ACCESS_REMOVED' } }), 0)

  const stale = await gql(app, LinkAppleDocument, { idToken: apple.idToken }, { token: owner.accessToken })
  t.match(stale.errors?.[0]?.extensions, { code: 'REAUTH_REQUIRED', reason: 'SIGN_IN_TOO_OLD' })
  const linked = await gql(app, LinkAppleDocument, { idToken: (await mint({ email: 'frank@example.com' })).idToken, password: PASSWORD }, { token: owner.accessToken })
  t.equal(linked.data?.linkApple.hasApple, true, JSON.stringify(linked.errors))
  t.equal((await gql(app, SignInWithAppleDocument, { idToken: (await mint({ email: 'frank@example.com' })).idToken })).data?.signInWithApple.user.id, owner.user.id, 'Apple now reaches the owner')

  const other = await signUp(app, 'NATIVE')
  const inUse = await gql(app, LinkAppleDocument, { idToken: (await mint({ email: 'frank@example.com' })).idToken, password: PASSWORD }, { token: other.accessToken })
  t.match(inUse.errors?.[0]?.extensions, { code: 'CONFLICT', reason: 'APPLE_ACCOUNT_IN_USE' })
  const second = await gql(app, LinkAppleDocument, { idToken: (await mint({ email: 'gina@example.com' })).idToken, password: PASSWORD }, { token: owner.accessToken })
  t.match(second.errors?.[0]?.extensions, { code: 'CONFLICT', reason: 'APPLE_ALREADY_LINKED' })

  t.match((await gql(app, UnlinkAppleDocument, {}, { token: owner.accessToken })).errors?.[0]?.extensions, { code: 'REAUTH_REQUIRED' })
  t.match((await gql(app, UnlinkAppleDocument, { password: 'wrong password!' }, { token: owner.accessToken })).errors?.[0]?.extensions, { code: 'REAUTH_REQUIRED', reason: 'PASSWORD_INCORRECT' })
  t.equal((await gql(app, UnlinkAppleDocument, { password: PASSWORD }, { token: owner.accessToken })).data?.unlinkApple.hasApple, false)

  // An Apple-only account cannot unlink its only way in.
  const only = await gql(app, SignInWithAppleDocument, { idToken: (await mint({ email: 'hank@example.com' })).idToken })
  const refused = await gql(app, UnlinkAppleDocument, {}, { token: only.data!.signInWithApple.accessToken })
  t.match(refused.errors?.[0]?.extensions, { code: 'FORBIDDEN', reason: 'PASSWORD_REQUIRED' })
  const events = (await app.prisma.securityEvent.findMany({ where: { userId: owner.user.id } })).map((e) => e.type)
  t.ok(events.includes('APPLE_LINKED') && events.includes('APPLE_UNLINKED') && events.includes('REAUTH_FAILED'))
})

test('pre-hijacking: a squatter\'s unverified account is taken over by the verified Apple owner of the address; the squatter loses every way in', async (t) => {
  // docs/security.md item 44 (Sudhodanan & Paverd, USENIX Security 2022), the Apple side of the Google test in
  // test/accounts/unverified-account-claim.test.ts.
  const { app, mint } = await setup(t)
  const victim = 'victoria@example.com'
  // The squatter registers the victim's address first, signs in on two devices and links their own Apple account.
  const squatter = await signUp(app, 'NATIVE', victim)
  const second = (await gql(app, LoginDocument, { input: { email: victim, password: PASSWORD, client: 'NATIVE' } })).data!.login
  const mallory = await mint({ email: 'mallory@attacker.example' })
  t.equal((await gql(app, LinkAppleDocument, { idToken: mallory.idToken }, { token: squatter.accessToken })).data?.linkApple.hasApple, true, 'the squatter linked their own Apple ID')
  await app.emailTokens.mint(squatter.user.id, 'VERIFY_EMAIL', victim, 3600)

  // The owner signs in with Apple (Apple verified the address): the account is theirs, not ACCOUNT_EXISTS.
  const owner = await mint({ email: 'Victoria@example.com' })
  const res = await gql(app, SignInWithAppleDocument, { idToken: owner.idToken, name: 'Victoria Owner' })
  t.equal(res.errors, undefined, JSON.stringify(res.errors))
  t.match(res.data?.signInWithApple.user, { id: squatter.user.id, email: victim, hasPassword: false })
  t.match(await app.prisma.user.findUniqueOrThrow({ where: { id: squatter.user.id } }), { emailVerified: true, appleSub: owner.sub, passwordHash: null, name: 'Victoria Owner' })
  t.equal((await gql(app, MeDocument, {}, { token: res.data!.signInWithApple.accessToken })).data?.me.id, squatter.user.id, 'the owner is signed in')

  for (const [name, s] of [['first device', squatter], ['second device', second]] as const) {
    t.equal((await gql(app, MeDocument, {}, { token: s.accessToken })).errors?.[0]?.extensions.code, 'UNAUTHENTICATED', `${name}: access token dead`)
    t.equal((await gql(app, RefreshDocument, { refreshToken: s.refreshToken!, client: 'NATIVE' })).errors?.[0]?.extensions.code, 'UNAUTHENTICATED', `${name}: refresh token dead`)
  }
  t.equal((await gql(app, LoginDocument, { input: { email: victim, password: PASSWORD } })).errors?.[0]?.extensions.reason, 'INVALID_CREDENTIALS', 'the squatter\'s password is gone')
  const viaMallory = await gql(app, SignInWithAppleDocument, { idToken: (await mint({ email: 'mallory@attacker.example' })).idToken })
  t.not(viaMallory.data?.signInWithApple.user.id, squatter.user.id, 'the squatter\'s own Apple ID no longer reaches it')
  t.equal(await app.prisma.emailToken.count({ where: { userId: squatter.user.id } }), 0, 'pending tokens void')

  t.match(await app.prisma.securityEvent.findFirst({ where: { type: 'UNVERIFIED_ACCESS_REMOVED', userId: squatter.user.id } }), {
    detail: { method: 'apple', passwordRemoved: true, appleUnlinked: true, googleUnlinked: false, sessionsRevoked: 2, tokensVoided: 1 }
  })
  t.match(await app.prisma.securityEvent.findFirst({ where: { type: 'ACCOUNT_CLAIMED_BY_VERIFIED_OWNER', userId: squatter.user.id } }), { detail: { method: 'apple' } })
})

test('pre-hijacking: a squatter\'s own Apple link dies when the owner claims the address another way (Google, a reset)', async (t) => {
  const { app, mint } = await setup(t)
  const squatter = await signUp(app, 'NATIVE', 'walter@example.com')
  const mallory = await mint({ email: 'mallory2@attacker.example' })
  await gql(app, LinkAppleDocument, { idToken: mallory.idToken }, { token: squatter.accessToken })
  // The claim as a Google sign-in or a password reset makes it (those flows are tested end to end elsewhere).
  const claimed = await app.unverifiedAccountClaim.claim({ email: 'walter@example.com', method: 'google', credentials: { googleSub: '100000000000000000777' }, meta: {} })
  t.equal(claimed?.appleSub, null, 'the squatter\'s Apple sub is removed')
  const viaMallory = await gql(app, SignInWithAppleDocument, { idToken: (await mint({ email: 'mallory2@attacker.example' })).idToken })
  t.not(viaMallory.data?.signInWithApple.user.id, squatter.user.id, 'the squatter\'s Apple ID no longer reaches the account')
})

test('deleteAccount for an Apple-only account: a recent Apple sign-in is the step-up; the Apple ID is free again', async (t) => {
  const clock = new ShiftedClock()
  const { app, mint } = await setup(t, clock)
  const apple = await mint({ email: 'olga@example.com', hide_email: true })
  const first = (await gql(app, SignInWithAppleDocument, { idToken: apple.idToken })).data!.signInWithApple
  const userId = first.user.id
  t.match(await app.prisma.user.findUniqueOrThrow({ where: { id: userId } }), { passwordHash: null, googleSub: null, appleSub: apple.sub })

  // Past REAUTH_MAX_AGE_SECONDS (300 s), within the access token's 900 s: the session is too old to delete with,
  // and there is no password to offer instead.
  clock.offsetMs = 400_000
  t.match((await gql(app, DeleteAccountDocument, {}, { token: first.accessToken })).errors?.[0]?.extensions, { code: 'REAUTH_REQUIRED', reason: 'SIGN_IN_TOO_OLD' })
  t.match((await gql(app, DeleteAccountDocument, { password: 'any password at all' }, { token: first.accessToken })).errors?.[0]?.extensions, { code: 'REAUTH_REQUIRED', reason: 'NO_PASSWORD' })
  t.equal(await app.prisma.user.count({ where: { id: userId } }), 1, 'nothing deleted')

  // Signing in with Apple again is the recent sign-in.
  const again = (await gql(app, SignInWithAppleDocument, { idToken: (await mint({ email: 'olga@example.com', hide_email: true })).idToken })).data!.signInWithApple
  t.equal(again.user.id, userId)
  const res = await gql(app, DeleteAccountDocument, {}, { token: again.accessToken })
  t.equal(res.data?.deleteAccount, true, JSON.stringify(res.errors))
  t.equal(await app.prisma.user.count({ where: { id: userId } }), 0, 'the account is gone')
  t.equal(await app.prisma.session.count({ where: { userId } }), 0, 'its sessions too')
  t.equal((await gql(app, MeDocument, {}, { token: first.accessToken })).errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
  const types = (await app.prisma.securityEvent.findMany({ where: { OR: [{ userId }, { detail: { path: ['userId'], equals: userId } }] } })).map((e) => e.type).sort()
  t.same(types, ['ACCOUNT_DELETED', 'ACCOUNT_DELETION_REQUESTED'])

  // The same Apple ID signs up afresh: a new account, nothing of the old one.
  const fresh = await gql(app, SignInWithAppleDocument, { idToken: (await mint({ email: 'olga@example.com', hide_email: true })).idToken })
  t.equal(fresh.errors, undefined, JSON.stringify(fresh.errors))
  t.not(fresh.data?.signInWithApple.user.id, userId)
})

test('deletion pending: the Apple ID is unlinked at the first step, so it no longer reaches the account', async (t) => {
  const { app, mint } = await setup(t)
  const apple = await mint({ email: 'pete@example.com' })
  const userId = (await gql(app, SignInWithAppleDocument, { idToken: apple.idToken })).data!.signInWithApple.user.id
  t.equal(await app.accountDeletion.request(userId, 'user'), true)
  t.match(await app.prisma.user.findUniqueOrThrow({ where: { id: userId } }), { appleSub: null })
  const res = await gql(app, SignInWithAppleDocument, { idToken: (await mint({ email: 'pete@example.com' })).idToken })
  // The address is still held until step 2 removes the row: no session anywhere, the account is not reached.
  t.match(res.errors?.[0]?.extensions, { code: 'CONFLICT', reason: 'ACCOUNT_EXISTS' })
  t.equal(await app.prisma.session.count({ where: { userId, revokedAt: null } }), 0)
})

test('Apple\'s rate limits are spent by the service: signInWithApple and linkApple per IP, linkApple per account, the web flow too', async (t) => {
  const { app, mint } = await setup(t, new ShiftedClock(), { GOOGLE_OPS_PER_IP_PER_MINUTE: '3', GOOGLE_OPS_PER_USER_PER_MINUTE: '1' })
  const codes: string[] = []
  for (let i = 0; i < 4; i++) {
    const res = await gql(app, SignInWithAppleDocument, { idToken: (await mint({ email: `rl${i}@example.com` })).idToken })
    codes.push(res.errors?.[0]?.extensions.code as string ?? 'OK')
  }
  t.same(codes, ['OK', 'OK', 'OK', 'RATE_LIMITED'], 'appleOpsPerIp: GOOGLE_OPS_PER_IP_PER_MINUTE calls per IP')
  t.equal(await app.prisma.rateLimit.count({ where: { key: { startsWith: 'google_ops' } } }), 0, 'Apple does not spend Google\'s counters')

  // The same service bounds the browser's callback (it calls Apple's token endpoint): the IP's budget is spent.
  const start = await app.inject({ method: 'GET', url: '/auth/apple' })
  const cookie = start.cookies.find((c) => c.name === '__Host-inboxgate_apple_state')!.value
  const state = new URL(start.headers.location as string).searchParams.get('state')!
  const cb = await app.inject({ method: 'POST', url: '/auth/apple/callback', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ state, code: 'any' }).toString(), cookies: { '__Host-inboxgate_apple_state': cookie } })
  t.equal(cb.headers.location, '/auth/apple/done?auth_error=RATE_LIMITED')

  // Per account: with the IP's counters cleared, one user's second link in the minute is refused.
  await app.prisma.rateLimit.deleteMany({})
  const user = await signUp(app, 'NATIVE')
  const link = async () => (await gql(app, LinkAppleDocument, { idToken: (await mint({ email: 'other@example.com' })).idToken, password: PASSWORD }, { token: user.accessToken })).errors?.[0]?.extensions.code ?? 'OK'
  t.equal(await link(), 'OK')
  t.equal(await link(), 'RATE_LIMITED', 'appleOpsPerAccount: GOOGLE_OPS_PER_USER_PER_MINUTE per user')
})

test('server-to-server notifications: forged ones change nothing; genuine ones end the link and its sessions, once', async (t) => {
  const { app, mint, notification, notify } = await setup(t)
  const apple = await mint({ email: 'ivy@example.com', hide_email: true })
  const signedIn = await gql(app, SignInWithAppleDocument, { idToken: apple.idToken })
  const userId = signedIn.data!.signInWithApple.user.id

  // Forged: a well-formed notification signed with someone else's key; a genuine one tampered with; nonsense.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const genuine = await notification({ sub: apple.sub, type: 'consent-revoked' })
  const kid = JSON.parse(Buffer.from(genuine.split('.')[0]!, 'base64url').toString()).kid
  const events = JSON.stringify({ type: 'consent-revoked', sub: apple.sub, event_time: Date.now() })
  const forged = await new SignJWT({ events, jti: 'forged-1' }).setProtectedHeader({ alg: 'RS256', kid }).setIssuer('https://appleid.apple.com').setAudience(NATIVE).setIssuedAt().sign(privateKey)
  const [h, , s] = genuine.split('.')
  const tampered = `${h}.${Buffer.from(JSON.stringify({ iss: 'https://appleid.apple.com', aud: NATIVE, iat: Math.floor(Date.now() / 1000), jti: 'x', events })).toString('base64url')}.${s}`
  const foreign = await notification({ sub: apple.sub, type: 'consent-revoked', client_id: 'com.attacker.app' })
  for (const [name, payload] of [['forged', forged], ['tampered', tampered], ['for another app', foreign], ['not a JWS', 'nonsense']] as const) {
    const res = await notify(payload)
    t.equal(res.statusCode, 400, name)
    t.equal(res.json().error, 'invalid_token', name)
  }
  t.equal((await app.inject({ method: 'POST', url: '/apple/notifications', payload: { nope: 1 } })).statusCode, 400, 'malformed body')
  t.ok((await app.prisma.user.findUniqueOrThrow({ where: { id: userId } })).appleSub, 'still linked')
  t.equal(await app.prisma.session.count({ where: { userId, revokedAt: null } }), 1, 'session alive')

  // email-disabled / email-enabled are recorded, in event_time order (ms).
  const t0 = Date.now()
  t.equal((await notify(await notification({ sub: apple.sub, type: 'email-disabled', event_time: t0 }))).json().outcome, 'forwarding_disabled')
  t.equal((await app.prisma.user.findUniqueOrThrow({ where: { id: userId } })).appleEmailDisabledAt?.getTime(), t0, 'event_time read as milliseconds')
  t.equal((await notify(await notification({ sub: apple.sub, type: 'email-enabled', event_time: t0 - 1000 }))).json().outcome, 'older_than_recorded', 'a late older event does not undo a newer one')
  t.equal((await notify(await notification({ sub: apple.sub, type: 'email-enabled', event_time: t0 + 1000 }))).json().outcome, 'forwarding_enabled')
  t.equal((await app.prisma.user.findUniqueOrThrow({ where: { id: userId } })).appleEmailDisabledAt, null)

  const res = await notify(genuine)
  t.equal(res.statusCode, 200)
  t.match(res.json().outcome, /^unlinked, 1 sessions ended$/)
  t.equal((await app.prisma.user.findUniqueOrThrow({ where: { id: userId } })).appleSub, null, 'link ended')
  t.equal(await app.prisma.session.count({ where: { userId, revokedAt: null } }), 0, 'sessions ended')
  t.same((await notify(genuine)).json(), { received: true, duplicate: true }, 'a replay takes no second effect')

  // account-delete and its newer spelling account-deleted both end the link.
  for (const type of ['account-delete', 'account-deleted']) {
    const a = await mint({ email: `${type}@example.com` })
    const u = (await gql(app, SignInWithAppleDocument, { idToken: a.idToken })).data!.signInWithApple.user.id
    t.equal((await notify(await notification({ sub: a.sub, type }))).statusCode, 200)
    t.equal((await app.prisma.user.findUniqueOrThrow({ where: { id: u } })).appleSub, null, type)
    t.equal(await app.prisma.session.count({ where: { userId: u, revokedAt: null } }), 0, `${type}: sessions ended`)
  }
})

test('web flow: state bound to the browser, single use; the ID token comes from the token endpoint with our nonce', async (t) => {
  const { app, emulator } = await setup(t)
  const start = await app.inject({ method: 'GET', url: '/auth/apple?redirectTo=/auth/apple/done' })
  t.equal(start.statusCode, 302)
  const authorize = new URL(start.headers.location as string)
  t.equal(authorize.searchParams.get('response_mode'), 'form_post')
  t.equal(authorize.searchParams.get('client_id'), WEB)
  const stateCookie = start.cookies.find((c) => c.name === '__Host-inboxgate_apple_state')!
  t.equal(stateCookie.sameSite, 'None', 'Apple posts back cross-site: the binding cookie must come along')
  const row = await app.prisma.oAuthState.findFirstOrThrow({ where: { provider: 'apple' } })
  t.equal(authorize.searchParams.get('nonce'), sha256(row.nonce), 'Apple gets the SHA-256 of the nonce we keep')

  // The person signs in at Apple; Apple's page posts the form back to us.
  const consent = await emulator.app.inject({ method: 'POST', url: '/auth/authorize/consent', payload: { ...Object.fromEntries(authorize.searchParams), email: 'jo@example.com', first_name: 'Jo', last_name: 'March', decision: 'allow' } })
  const fields = Object.fromEntries([...consent.body.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!.replace(/&#34;/g, '"')]))
  const post = (form: Record<string, string>, cookie?: string) => app.inject({ method: 'POST', url: '/auth/apple/callback', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(form).toString(), ...(cookie != null ? { cookies: { '__Host-inboxgate_apple_state': cookie } } : {}) })

  t.equal((await post(fields)).statusCode, 400, 'without the browser\'s state cookie (login CSRF): refused')
  const ok = await post(fields, stateCookie.value)
  t.equal(ok.statusCode, 303)
  t.equal(ok.headers.location, '/auth/apple/done?signed_in=apple')
  t.ok(ok.cookies.some((c) => c.name === app.config.REFRESH_COOKIE_NAME), 'a WEB session cookie')
  const user = await app.prisma.user.findUniqueOrThrow({ where: { email: 'jo@example.com' } })
  t.equal(user.name, 'Jo March', 'the name from Apple\'s first-time user field')
  const replay = await post(fields, stateCookie.value)
  t.equal(replay.statusCode, 400, 'a replayed form (same state) is refused')
  t.match(replay.body, /STATE_INVALID/)

  // A state whose row holds another nonce: the ID token Apple returns no longer matches, nobody is signed in.
  const again = await app.inject({ method: 'GET', url: '/auth/apple' })
  const url2 = new URL(again.headers.location as string)
  const cookie2 = again.cookies.find((c) => c.name === '__Host-inboxgate_apple_state')!.value
  await app.prisma.oAuthState.updateMany({ where: { provider: 'apple' }, data: { nonce: 'swapped' } })
  const consent2 = await emulator.app.inject({ method: 'POST', url: '/auth/authorize/consent', payload: { ...Object.fromEntries(url2.searchParams), email: 'kim@example.com', decision: 'allow' } })
  const fields2 = Object.fromEntries([...consent2.body.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!.replace(/&#34;/g, '"')]))
  const refused = await post(fields2, cookie2)
  t.equal(refused.headers.location, '/auth/apple/done?auth_error=APPLE_ID_TOKEN_INVALID')
  t.equal(await app.prisma.user.count({ where: { email: 'kim@example.com' } }), 0)
})
