import { test } from 'tap'
import { gql, signUp } from '../helper.ts'
import { ConnectGmailDocument } from '../support/generated/graphql.ts'
import { ALICE, BOB, buildGmailApp, GMAIL_READONLY, iosSignIn, IOS, WEB } from './helpers.ts'
import type { GmailTestContext } from './helpers.ts'
import type { UserInput } from '../../emulators/google/state.ts'

// Issue 21 item 5 (docs/security.md item 62): nothing held that nobody tracks. A refused connect revokes at Google
// the grant it was handed, unless it is a grant we hold; a grant with Gmail scopes beyond GMAIL_SCOPES (one that
// could change, send or delete mail) is refused (FORBIDDEN, SCOPE_TOO_BROAD) and revoked.

const GMAIL_MODIFY = 'https://www.googleapis.com/auth/gmail.modify'
const MAIL_FULL = 'https://mail.google.com/'

async function connectAs (ctx: GmailTestContext, token: string, user: UserInput, scopes: string[] = [GMAIL_READONLY], idToken?: string) {
  const g = iosSignIn(ctx, user, scopes)
  const res = await gql(ctx.app, ConnectGmailDocument, {
    input: { accessToken: g.accessToken, refreshToken: g.refreshToken, ...(idToken != null ? { idToken } : {}) }
  }, { token })
  return { res, handed: g.refreshToken, idToken: g.idToken }
}

const live = (ctx: GmailTestContext, user: UserInput, refreshToken: string, clientId = IOS.id) =>
  ctx.google.state.grantsOf({ user: user.email!, clientId }).some((g) => g.refreshTokens.includes(refreshToken))

test('a grant broader than GMAIL_SCOPES is refused (FORBIDDEN, SCOPE_TOO_BROAD) and revoked; the held grant is untouched', async (t) => {
  const ctx = await buildGmailApp(t)
  const held = await connectAs(ctx, ctx.user.accessToken, ALICE)
  t.equal(held.res.errors, undefined)
  const before = await ctx.app.vault.get(ctx.user.id)

  const broad = await connectAs(ctx, ctx.user.accessToken, BOB, [GMAIL_READONLY, GMAIL_MODIFY])
  const err = broad.res.errors?.[0]
  t.equal(err?.extensions.code, 'FORBIDDEN')
  t.equal(err?.extensions.reason, 'SCOPE_TOO_BROAD')
  t.same(err?.extensions.extraScopes, [GMAIL_MODIFY])
  t.same(err?.extensions.allowedScopes, [GMAIL_READONLY])
  t.notOk(live(ctx, BOB, broad.handed), 'the broad grant is revoked at Google')
  const revoked = ctx.google.state.revocations({ user: BOB.email })
  t.match(revoked, [{ clientId: IOS.id, by: 'token' }])
  t.ok(revoked[0]?.scopes.includes(GMAIL_MODIFY), 'the emulator shows the broad grant revoked')
  t.same(await ctx.app.vault.get(ctx.user.id), before, 'the held grant stays in the vault')
  t.match(await ctx.app.gmailConnections.status(ctx.user.id), { state: 'ACTIVE', googleEmail: ALICE.email })
  t.ok(live(ctx, ALICE, held.handed), 'and alive at Google')
  t.match(await ctx.app.prisma.securityEvent.findFirst({ where: { type: 'GMAIL_CONNECT_REFUSED' } }), { detail: { reason: 'SCOPE_TOO_BROAD' } })

  // Full mail access on a first connect: refused and revoked, nothing stored.
  const other = await signUp(ctx.app, 'NATIVE')
  const full = await connectAs(ctx, other.accessToken, BOB, [MAIL_FULL])
  t.equal(full.res.errors?.[0]?.extensions.reason, 'SCOPE_TOO_BROAD')
  t.notOk(live(ctx, BOB, full.handed))
  t.equal(await ctx.app.prisma.gmailConnection.count({ where: { userId: other.user.id } }), 0, 'nothing stored')
  t.equal(await ctx.app.vault.get(other.user.id), null)
})

test('GMAIL_SCOPES that include gmail.modify keep such a grant', async (t) => {
  const ctx = await buildGmailApp(t, { env: { GMAIL_SCOPES: `${GMAIL_READONLY} ${GMAIL_MODIFY}` } })
  const modify = await connectAs(ctx, ctx.user.accessToken, ALICE, [GMAIL_MODIFY])
  t.equal(modify.res.errors, undefined)
  t.ok(live(ctx, ALICE, modify.handed))
  const full = await connectAs(ctx, ctx.user.accessToken, ALICE, [MAIL_FULL])
  t.equal(full.res.errors?.[0]?.extensions.reason, 'SCOPE_TOO_BROAD', 'full access is still beyond them')
  // The same account through the same client is the held grant at Google: revoking it would end the connection.
  t.ok(live(ctx, ALICE, modify.handed), 'the held grant is not revoked')
  t.match(await ctx.app.gmailConnections.status(ctx.user.id), { state: 'ACTIVE', googleEmail: ALICE.email })
})

test('CONFLICT, SCOPE_MISSING and an ID token of another account revoke the handed grant, never a held one', async (t) => {
  const ctx = await buildGmailApp(t)
  const held = await connectAs(ctx, ctx.user.accessToken, ALICE)
  t.equal(held.res.errors, undefined)
  const other = await signUp(ctx.app, 'NATIVE')

  // Alice's Google account, through the web client (a server auth code): CONFLICT, that grant revoked…
  const g = ctx.google.state.nativeSignIn({ clientId: IOS.id, user: ALICE.email, scopes: [GMAIL_READONLY], serverClientId: WEB.id })
  const viaCode = await gql(ctx.app, ConnectGmailDocument, { input: { serverAuthCode: g.serverAuthCode } }, { token: other.accessToken })
  t.equal(viaCode.errors?.[0]?.extensions.code, 'CONFLICT')
  t.match(ctx.google.state.revocations({ user: ALICE.email }), [{ clientId: WEB.id }], 'the web client grant handed in is revoked')
  t.ok(live(ctx, ALICE, held.handed), 'the other user\'s held grant (iOS client) is alive')
  // …through the iOS client it is the held grant itself: not revoked.
  const sameGrant = await connectAs(ctx, other.accessToken, ALICE)
  t.equal(sameGrant.res.errors?.[0]?.extensions.code, 'CONFLICT')
  t.ok(live(ctx, ALICE, held.handed), 'still alive')
  t.equal(ctx.google.state.revocations({ user: ALICE.email, clientId: IOS.id }).length, 0)
  t.match(await ctx.app.gmailConnections.status(ctx.user.id), { state: 'ACTIVE', googleEmail: ALICE.email })

  // Bob's grant without any Gmail scope: SCOPE_MISSING, revoked; Alice's grant stays the first user's.
  const noScope = await connectAs(ctx, ctx.user.accessToken, BOB, [])
  t.equal(noScope.res.errors?.[0]?.extensions.code, 'SCOPE_MISSING')
  t.notOk(live(ctx, BOB, noScope.handed), 'the grant without the scope is revoked')
  t.match(await ctx.app.gmailConnections.status(ctx.user.id), { state: 'ACTIVE', googleEmail: ALICE.email })
  t.ok(live(ctx, ALICE, held.handed))

  // Bob's tokens with Alice's ID token (account mismatch): refused, Bob's grant revoked, Alice's untouched.
  const mismatch = await connectAs(ctx, ctx.user.accessToken, BOB, [GMAIL_READONLY], held.idToken)
  t.equal(mismatch.res.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
  t.notOk(live(ctx, BOB, mismatch.handed), 'the mismatched grant is revoked')
  t.ok(live(ctx, ALICE, held.handed))
  t.match(await ctx.app.gmailConnections.status(ctx.user.id), { state: 'ACTIVE', googleEmail: ALICE.email })
  t.notOk(ctx.logs.join('\n').includes(mismatch.handed), 'no refresh token is logged')
})
