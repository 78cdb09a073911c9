import t from 'tap'
import type { Test } from 'tap'
import { gql } from '../../helper.ts'
import { iosSignIn } from '../../gmail/helpers.ts'
import { buildRiscApp, post, setFor } from './helpers.ts'
import { ConnectGmailDocument, GmailStatusDocument } from '../../support/generated/graphql.ts'

// docs/security.md item 39: a revocation Google pushes deletes a grant like an invalid_grant does (item 29): under the
// user's grant lock, and only if the vault still holds the revoked grant.

async function connect (t: Test, ctx: Awaited<ReturnType<typeof buildRiscApp>>) {
  const g = iosSignIn(ctx)
  const res = await gql(ctx.app, ConnectGmailDocument, {
    input: { accessToken: g.accessToken, refreshToken: g.refreshToken, expiresIn: g.expiresIn, scope: g.grantedScopes.join(' '), idToken: g.idToken }
  }, { token: ctx.user.accessToken })
  t.equal(res.data?.connectGmail.status.state, 'ACTIVE')
  return g
}

const tokenRevoked = (token: string) => ({ subject_type: 'oauth_token', token_type: 'refresh_token', token_identifier_alg: 'prefix', token: token.slice(0, 16) })

t.test('compare-and-delete: a revoked grant the vault no longer holds is not deleted, nor is the grant that replaced it', async (t) => {
  const ctx = await buildRiscApp(t, { listen: false })
  const old = await connect(t, ctx)
  // The vault already holds a newer grant while the row still names the old one (a connect between its vault write
  // and its row write): the revocation of the old grant must not delete the new secret.
  const held = await ctx.app.vault.get(ctx.user.id)
  const replacement = { ...held!, refreshToken: `1//replacement-${'x'.repeat(40)}` }
  await ctx.app.vault.put(ctx.user.id, replacement)

  const res = await post(ctx, setFor(ctx, 'token-revoked', tokenRevoked(old.refreshToken)))
  t.equal(res.statusCode, 202)
  t.same(await ctx.app.vault.get(ctx.user.id), replacement, 'the newer grant stays in the vault')
  const row = await ctx.app.prisma.gmailConnection.findUnique({ where: { userId: ctx.user.id } })
  t.equal(row!.state, 'ACTIVE')
  const events = await ctx.app.prisma.securityEvent.findMany({ where: { type: 'GOOGLE_RISC_EVENT', userId: ctx.user.id } })
  t.match(events.map((e) => e.detail), [{ event: 'token-revoked', outcome: 'no_grant' }])
})

t.test('after a reconnect, a late revocation of the old grant leaves the new grant alone', async (t) => {
  const ctx = await buildRiscApp(t, { listen: false })
  const old = await connect(t, ctx)
  const fresh = await connect(t, ctx)
  t.not(fresh.refreshToken, old.refreshToken)
  const res = await post(ctx, setFor(ctx, 'token-revoked', tokenRevoked(old.refreshToken)))
  t.equal(res.statusCode, 202)
  t.equal((await gql(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).data?.gmailStatus.state, 'ACTIVE')
  t.equal((await ctx.app.vault.get(ctx.user.id))?.refreshToken, fresh.refreshToken)
})

// On PGlite too: the lease holds no connection, so the holder's wait stalls nothing else.
t.test('the revocation waits for the user\'s grant lock', async (t) => {
  const ctx = await buildRiscApp(t, { listen: false })
  const g = await connect(t, ctx)
  let release!: () => void
  const released = new Promise<void>((resolve) => { release = resolve })
  let locked!: () => void
  const isLocked = new Promise<void>((resolve) => { locked = resolve })
  const holder = ctx.app.gmailConnections.withGrantLock(ctx.user.id, null, async () => { locked(); await released })
  await isLocked

  let answered = false
  const delivery = post(ctx, setFor(ctx, 'token-revoked', tokenRevoked(g.refreshToken))).then((res) => { answered = true; return res })
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(answered, false, 'still waiting for the lock')
  t.equal((await ctx.app.prisma.gmailConnection.findUnique({ where: { userId: ctx.user.id } }))!.state, 'ACTIVE')
  release()
  await holder
  t.equal((await delivery).statusCode, 202)
  t.equal((await ctx.app.prisma.gmailConnection.findUnique({ where: { userId: ctx.user.id } }))!.state, 'RECONNECT_REQUIRED')
  t.equal(await ctx.app.vault.get(ctx.user.id), null)
})
