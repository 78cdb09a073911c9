import { test } from 'tap'
import { runAdminCommand } from '../../src/admin/commands.ts'
import { ALICE, buildGmailApp, connectWithTokens } from '../gmail/helpers.ts'
import { gql, gqlData, PASSWORD } from '../helper.ts'
import { GmailStatusDocument, LoginDocument, MeDocument } from '../support/generated/graphql.ts'
import { errorOf } from '../accounts/helpers.ts'

// Issue 10, rule 5: operator controls (npm run admin), run here against the test app's services.

test('disable-user ends sessions at once, refuses login and operations, keeps the Gmail grant; enable-user', async (t) => {
  const ctx = await buildGmailApp(t)
  const { email } = (await gqlData(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })).me
  t.equal((await connectWithTokens(ctx, ALICE)).errors, undefined)
  const before = await runAdminCommand(ctx.app, ['show-user', email.toUpperCase()])
  t.match(before, { id: ctx.user.id, state: 'ACTIVE', sessions: 1, hasPassword: true, gmail: { state: 'ACTIVE', googleEmail: ALICE.email } })
  const bundle = await ctx.app.vault.get(ctx.user.id)
  t.notOk(JSON.stringify(before).includes(bundle!.refreshToken) || JSON.stringify(before).includes(bundle!.accessToken), 'never a token')

  t.match(await runAdminCommand(ctx.app, ['disable-user', email]), { state: 'DISABLED', sessions: 0, gmail: { state: 'ACTIVE' } })
  t.match(errorOf(await gql(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })), { code: 'FORBIDDEN', reason: 'USER_DISABLED' })
  t.match(errorOf(await gql(ctx.app, LoginDocument, { input: { email, password: PASSWORD } })), { code: 'FORBIDDEN' })
  t.ok(await ctx.app.vault.get(ctx.user.id), 'the Gmail grant is kept')

  t.match(await runAdminCommand(ctx.app, ['enable-user', email]), { state: 'ACTIVE', sessions: 0 })
  t.equal(errorOf(await gql(ctx.app, LoginDocument, { input: { email, password: PASSWORD } })), undefined, 'can sign in again')
  t.match(errorOf(await gql(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })), { reason: 'SESSION_REVOKED' }, 'the old sessions stay ended')
  t.same((await ctx.app.prisma.securityEvent.findMany({ where: { userId: ctx.user.id, type: { in: ['USER_DISABLED', 'USER_ENABLED'] } }, orderBy: { createdAt: 'asc' } })).map((e) => e.type), ['USER_DISABLED', 'USER_ENABLED'])
})

test('delete-user deletes like deleteAccount; unknown users and commands are operator errors', async (t) => {
  const ctx = await buildGmailApp(t)
  const { email } = (await gqlData(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })).me
  t.equal((await connectWithTokens(ctx, ALICE)).errors, undefined)
  t.match(await runAdminCommand(ctx.app, ['delete-user', email]), { id: ctx.user.id, deleted: true, gmailGrantRevoked: true })
  t.equal(await ctx.app.vault.get(ctx.user.id), null)
  t.match(errorOf(await gql(ctx.app, MeDocument, {}, { token: ctx.user.accessToken })), { reason: 'SESSION_REVOKED' })
  await t.rejects(runAdminCommand(ctx.app, ['show-user', email]), { name: 'AdminError' })
  await t.rejects(runAdminCommand(ctx.app, ['make-admin', email]), { name: 'AdminError' })
  await t.rejects(runAdminCommand(ctx.app, ['show-user']), { name: 'AdminError' })
})

test('google-risc-register wants an https receiver at /google/risc', async (t) => {
  const ctx = await buildGmailApp(t)
  ctx.app.config.GOOGLE_RISC_SERVICE_ACCOUNT_FILE = '/nonexistent.json'
  const saved = ctx.app.config.GOOGLE_API_BASE_URL
  ctx.app.config.GOOGLE_API_BASE_URL = undefined
  t.teardown(() => { ctx.app.config.GOOGLE_API_BASE_URL = saved })
  await t.rejects(runAdminCommand(ctx.app, ['google-risc-register', 'http://api.example.com/google/risc']), { name: 'AdminError', message: /must be https:/ })
  await t.rejects(runAdminCommand(ctx.app, ['google-risc-register', 'http://127.0.0.1:4000/google/risc']), { message: /must be https:/ }, 'loopback http only with the emulator')
  await t.rejects(runAdminCommand(ctx.app, ['google-risc-register', 'https://api.example.com/']), { message: /must end in \/google\/risc/ })
  await t.rejects(runAdminCommand(ctx.app, ['google-risc-register', 'https://api.example.com/google/risc?x=1']), { message: /must end in \/google\/risc/ })
  await t.rejects(runAdminCommand(ctx.app, ['google-risc-register', 'api.example.com/google/risc']), { message: /is not a URL/ })
  // A good URL gets past the checks, to the service account key.
  await t.rejects(runAdminCommand(ctx.app, ['google-risc-register', 'https://api.example.com/google/risc']), { message: /nonexistent|ENOENT|service account/ })
})
