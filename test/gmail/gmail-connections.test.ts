import { test } from 'tap'
import { gql, gqlData } from '../helper.ts'
import { ConnectGmailDocument, DisconnectGmailDocument, GmailProfileDocument, GmailStatusDocument, SignUpDocument } from '../support/generated/graphql.ts'
import {
  ALICE, BOB, buildGmailApp, connectWithTokens, FOREIGN_IOS, GMAIL_READONLY, iosSignIn, tokenCalls, WEB
} from './helpers.ts'

// docs/security.md items 14–21, issue "Gmail custody".

// The status query with a user id is no client's operation: a string, on purpose.

test('connect with the tokens an iOS app got: validated with Google, held only in the vault', async (t) => {
  const ctx = await buildGmailApp(t)
  const before = await gql(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })
  t.equal(before.data?.gmailStatus.state, 'NOT_CONNECTED')

  const g = iosSignIn(ctx)
  const res = await gql(ctx.app, ConnectGmailDocument, { input: { accessToken: g.accessToken, refreshToken: g.refreshToken, idToken: g.idToken } }, { token: ctx.user.accessToken })
  t.equal(res.errors, undefined)
  const status = res.data?.connectGmail.status
  t.equal(status?.state, 'ACTIVE')
  t.equal(status?.googleEmail, ALICE.email, 'identity from Google')
  t.ok(status?.grantedScopes.includes(GMAIL_READONLY))
  t.same(status?.missingScopes, [])
  t.same(res.data?.connectGmail.warnings, [])

  const bundle = await ctx.app.vault.get(ctx.user.id)
  t.equal(bundle?.clientId, 'ios.apps.googleusercontent.com', 'refreshed later with the minting (public) client')
  t.equal(bundle?.googleSub, ALICE.sub)
  t.equal(bundle?.refreshToken, g.refreshToken)

  // Tokens exist only in the vault: not in the database, not in responses, not in logs.
  const dump = JSON.stringify(await ctx.app.prisma.gmailConnection.findMany()) + JSON.stringify(await ctx.app.prisma.securityEvent.findMany())
  const visible = JSON.stringify(res.response.json()) + ctx.logs.join('\n') + dump
  for (const secret of [g.accessToken, g.refreshToken, bundle!.accessToken]) t.notOk(visible.includes(secret), 'no token outside the vault')
  t.equal(await ctx.app.prisma.securityEvent.count({ where: { type: 'GMAIL_CONNECTED', userId: ctx.user.id } }), 1)
})

test('connect with a server auth code (GIDServerClientID): exchanged by the web client, no redirect_uri', async (t) => {
  const ctx = await buildGmailApp(t)
  const g = ctx.google.state.nativeSignIn({ clientId: 'ios.apps.googleusercontent.com', user: BOB.email, scopes: [GMAIL_READONLY], serverClientId: WEB.id })
  t.ok(g.serverAuthCode)
  const res = await gql(ctx.app, ConnectGmailDocument, { input: { serverAuthCode: g.serverAuthCode } }, { token: ctx.user.accessToken })
  t.equal(res.errors, undefined)
  t.equal(res.data?.connectGmail.status.state, 'ACTIVE')
  t.equal(res.data?.connectGmail.status.googleEmail, BOB.email)
  t.equal((await ctx.app.vault.get(ctx.user.id))?.clientId, WEB.id, 'held under the web client')
  const again = await gql(ctx.app, ConnectGmailDocument, { input: { serverAuthCode: g.serverAuthCode } }, { token: ctx.user.accessToken })
  t.equal(again.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', 'codes are single use')
  t.equal((await gqlData(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).gmailStatus.state, 'ACTIVE', 'a bad retry loses nothing')
})

test('tokens of another app, mismatched or garbage input are refused and store nothing', async (t) => {
  const ctx = await buildGmailApp(t)
  const foreign = iosSignIn(ctx, ALICE, [GMAIL_READONLY], FOREIGN_IOS.id)
  const res = await gql(ctx.app, ConnectGmailDocument, { input: { accessToken: foreign.accessToken, refreshToken: foreign.refreshToken } }, { token: ctx.user.accessToken })
  t.equal(res.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', 'aud/azp not ours')

  const alice = iosSignIn(ctx, ALICE)
  const bob = iosSignIn(ctx, BOB)
  const mixed = await gql(ctx.app, ConnectGmailDocument, { input: { accessToken: alice.accessToken, refreshToken: alice.refreshToken, idToken: bob.idToken } }, { token: ctx.user.accessToken })
  t.equal(mixed.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', 'ID token of another Google account')
  const mixedRefresh = await gql(ctx.app, ConnectGmailDocument, { input: { accessToken: alice.accessToken, refreshToken: bob.refreshToken } }, { token: ctx.user.accessToken })
  t.equal(mixedRefresh.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', 'refresh token of another account')

  for (const input of [{}, { accessToken: 'ya29.nonsense', refreshToken: '1//nonsense' }, { serverAuthCode: '4/0nonsense' }, { accessToken: alice.accessToken }, { serverAuthCode: 'x', accessToken: 'y' }]) {
    const r = await gql(ctx.app, ConnectGmailDocument, { input }, { token: ctx.user.accessToken })
    t.equal(r.errors?.[0]?.extensions.code, 'BAD_USER_INPUT', JSON.stringify(Object.keys(input)))
  }
  t.equal(await ctx.app.vault.get(ctx.user.id), null, 'nothing in the vault')
  t.equal((await gqlData(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).gmailStatus.state, 'NOT_CONNECTED')
  t.equal((await gql(ctx.app, ConnectGmailDocument, { input: {} })).errors?.[0]?.extensions.code, 'UNAUTHENTICATED', 'needs a session')
})

test('granular consent: without gmail.readonly the connection is SCOPE_MISSING and says which scope', async (t) => {
  const ctx = await buildGmailApp(t)
  const g = iosSignIn(ctx, ALICE, [])
  const res = await gql(ctx.app, ConnectGmailDocument, { input: { accessToken: g.accessToken, refreshToken: g.refreshToken } }, { token: ctx.user.accessToken })
  t.equal(res.errors?.[0]?.extensions.code, 'SCOPE_MISSING')
  t.same(res.errors?.[0]?.extensions.missingScopes, [GMAIL_READONLY])
  const status = (await gqlData(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).gmailStatus
  t.equal(status.state, 'SCOPE_MISSING')
  t.same(status.missingScopes, [GMAIL_READONLY])
  t.equal(status.googleEmail, ALICE.email)
  t.equal(await ctx.app.vault.get(ctx.user.id), null, 'nothing useless held')
  const profile = await gql(ctx.app, GmailProfileDocument, {}, { token: ctx.user.accessToken })
  t.equal(profile.errors?.[0]?.extensions.code, 'SCOPE_MISSING')

  // Connecting properly afterwards works.
  t.equal((await connectWithTokens(ctx)).data?.connectGmail.status.state, 'ACTIVE')
})

test('proactive refresh within 5 minutes of expiry; the stored refresh token is kept', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx)
  const first = await ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id)
  const held = await ctx.app.vault.get(ctx.user.id)
  ctx.google.state.resetStats()

  ctx.clock.advance(50 * 60_000)
  t.equal(await ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id), first, '10 minutes left: no refresh')
  t.equal(tokenCalls(ctx.google), 0)

  ctx.clock.advance(6 * 60_000)
  const refreshed = await ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id)
  t.not(refreshed, first, '4 minutes left: refreshed')
  t.equal(tokenCalls(ctx.google), 1)
  const after = await ctx.app.vault.get(ctx.user.id)
  t.equal(after?.refreshToken, held?.refreshToken, 'Google sent no refresh_token: ours is kept')
  t.equal(after?.accessToken, refreshed)
  const status = (await gqlData(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).gmailStatus
  t.ok(status.lastRefreshedAt, 'lastRefreshedAt set')
  t.equal(new Date(status.accessTokenExpiresAt ?? 0).getTime(), after?.expiryDate)

  const profile = await gql(ctx.app, GmailProfileDocument, {}, { token: ctx.user.accessToken })
  t.equal(profile.errors, undefined)
  t.equal(profile.data?.gmailProfile.emailAddress, ALICE.email, 'the refreshed token works at Gmail')
  t.equal(profile.data?.gmailProfile.messagesTotal, 42)
})

test('100 concurrent callers near expiry: one Google token call, one vault write; fresh tokens cost no vault read', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx)
  ctx.clock.advance(57 * 60_000)
  ctx.google.state.resetStats()
  const before = ctx.app.vault.stats()
  const tokens = await Promise.all(Array.from({ length: 100 }, async () => await ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id)))
  t.equal(new Set(tokens).size, 1, 'everyone got the same fresh token')
  t.equal(tokenCalls(ctx.google), 1, 'one call to Google')
  const after = ctx.app.vault.stats()
  t.equal(after.writes - before.writes, 1, 'one vault write')
  t.ok(after.reads - before.reads <= 1, `vault reads: ${after.reads - before.reads}`)

  const mid = ctx.app.vault.stats()
  for (let i = 0; i < 1000; i++) await ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id)
  t.equal(ctx.app.vault.stats().reads - mid.reads, 0, '1,000 calls with a fresh token: no vault read (cached by vault version)')
  t.equal(tokenCalls(ctx.google), 1)
})

test('invalid_grant deletes the secret and asks to reconnect; reconnecting right after works', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx)
  ctx.google.state.revokeUserAccess(ALICE.email) // the user removed the app in their Google Account
  ctx.clock.advance(57 * 60_000)
  await t.rejects(ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id), { code: 'RECONNECT_REQUIRED' })
  t.equal(await ctx.app.vault.get(ctx.user.id), null, 'secret deleted')
  const status = (await gqlData(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).gmailStatus
  t.equal(status.state, 'RECONNECT_REQUIRED')
  t.equal(status.accessTokenExpiresAt, null)
  t.equal(await ctx.app.prisma.securityEvent.count({ where: { type: 'GMAIL_RECONNECT_REQUIRED' } }), 1, 'recorded')
  const profile = await gql(ctx.app, GmailProfileDocument, {}, { token: ctx.user.accessToken })
  t.equal(profile.errors?.[0]?.extensions.code, 'RECONNECT_REQUIRED')

  const again = await connectWithTokens(ctx, ALICE, ctx.user.accessToken, false)
  t.equal(again.errors, undefined)
  t.equal(again.data?.connectGmail.status.state, 'ACTIVE', 'reconnect right after works')
  t.same(again.data?.connectGmail.warnings, [], 'same Google account: no switch warning')
  t.ok(await ctx.app.vault.get(ctx.user.id))
})

test('a Google 5xx or timeout during refresh deletes nothing and is retryable', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx)
  const held = await ctx.app.vault.get(ctx.user.id)
  ctx.clock.advance(57 * 60_000)

  ctx.google.state.addFault({ endpoint: 'token', kind: 'http5xx', status: 503 })
  await t.rejects(ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id), { code: 'GOOGLE_UNAVAILABLE' })
  const profile = await gql(ctx.app, GmailProfileDocument, {}, { token: ctx.user.accessToken })
  t.equal(profile.errors?.[0]?.extensions.code, 'GOOGLE_UNAVAILABLE')
  t.notMatch(JSON.stringify(profile.response.json()), held!.refreshToken)
  ctx.google.state.clearFaults()

  ctx.google.state.addFault({ endpoint: 'token', kind: 'timeout', delayMs: 5_000 })
  const started = Date.now()
  await t.rejects(ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id), { code: 'GOOGLE_UNAVAILABLE' })
  t.ok(Date.now() - started < 15_000, `bounded wait (${Date.now() - started} ms)`)
  ctx.google.state.clearFaults()

  t.same(await ctx.app.vault.get(ctx.user.id), held, 'the grant is untouched')
  t.equal((await gqlData(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).gmailStatus.state, 'ACTIVE')
  const token = await ctx.app.gmailConnections.getGmailAccessToken(ctx.user.id)
  t.not(token, held!.accessToken, 'recovers once Google is back, without a restart')
})

test('switching Google accounts warns and revokes the old grant; an account held by another user is refused', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx, ALICE)
  t.ok(ctx.google.state.grantsOf({ user: ALICE.email }).some((g) => g.refreshTokens.length > 0))
  const switched = await connectWithTokens(ctx, BOB)
  t.equal(switched.errors, undefined)
  t.equal(switched.data?.connectGmail.status.googleEmail, BOB.email)
  t.same(switched.data?.connectGmail.warnings.map((w) => w.code), ['ACCOUNT_SWITCHED'])
  t.match(switched.data?.connectGmail.warnings[0]?.message, BOB.email)
  t.equal(ctx.google.state.grantsOf({ user: ALICE.email }).filter((g) => g.refreshTokens.length > 0).length, 0, 'old grant revoked at Google')
  t.equal(await ctx.app.prisma.securityEvent.count({ where: { type: 'GMAIL_ACCOUNT_SWITCHED' } }), 1)

  // Another inboxgate user tries to connect Bob's Google account.
  const other = (await gqlData(ctx.app, SignUpDocument, {
    input: { email: 'other@example.com', password: 'another fine passphrase', client: 'NATIVE' }
  })).signUp
  const refused = await connectWithTokens(ctx, BOB, other.accessToken)
  t.equal(refused.errors?.[0]?.extensions.code, 'CONFLICT')
  t.equal((await ctx.app.vault.get(ctx.user.id))?.googleSub, BOB.sub, 'the first user keeps the grant')
})

test('disconnect revokes at Google, then deletes the secret; with Google down it deletes nothing', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx)
  ctx.google.state.addFault({ endpoint: 'revoke', kind: 'http5xx', status: 500 })
  const failed = await gql(ctx.app, DisconnectGmailDocument, {}, { token: ctx.user.accessToken })
  t.equal(failed.errors?.[0]?.extensions.code, 'GOOGLE_UNAVAILABLE')
  t.ok(await ctx.app.vault.get(ctx.user.id), 'still held')
  ctx.google.state.clearFaults()

  const res = await gql(ctx.app, DisconnectGmailDocument, {}, { token: ctx.user.accessToken })
  t.match(res.data?.disconnectGmail, { state: 'NOT_CONNECTED', grantedScopes: [] })
  t.equal(await ctx.app.vault.get(ctx.user.id), null)
  t.equal(ctx.google.state.grantsOf({ user: ALICE.email }).filter((g) => g.refreshTokens.length > 0).length, 0, 'revoked at Google')
  t.equal((await gqlData(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).gmailStatus.state, 'NOT_CONNECTED')
  const twice = await gql(ctx.app, DisconnectGmailDocument, {}, { token: ctx.user.accessToken })
  t.equal(twice.data?.disconnectGmail.state, 'NOT_CONNECTED', 'idempotent')
})

test('gmailStatus reads only the database: no vault, no Google call', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx)
  ctx.google.state.resetStats()
  const vaultBefore = ctx.app.vault.stats()
  for (let i = 0; i < 20; i++) await gql(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })
  const vaultAfter = ctx.app.vault.stats()
  t.equal(vaultAfter.reads + vaultAfter.writes + vaultAfter.deletes, vaultBefore.reads + vaultBefore.writes + vaultBefore.deletes)
  t.same(ctx.google.state.stats().requests, {}, 'Google untouched')
})

test('no argument reaches another user: each user sees and spends only their own grant', async (t) => {
  const ctx = await buildGmailApp(t)
  await connectWithTokens(ctx, ALICE)
  const other = (await gqlData(ctx.app, SignUpDocument, {
    input: { email: 'nosy@example.com', password: 'another fine passphrase', client: 'NATIVE' }
  })).signUp
  t.equal((await gqlData(ctx.app, GmailStatusDocument, {}, { token: other.accessToken })).gmailStatus.state, 'NOT_CONNECTED')
  const profile = await gql(ctx.app, GmailProfileDocument, {}, { token: other.accessToken })
  t.equal(profile.errors?.[0]?.extensions.code, 'GMAIL_NOT_CONNECTED')
  const withArg = await gql(ctx.app, `query { gmailStatus(userId: "${ctx.user.id}") { state } }`, {}, { token: other.accessToken })
  t.equal(withArg.errors?.[0]?.extensions.code, 'GRAPHQL_VALIDATION_FAILED', 'no user id argument exists')
})
