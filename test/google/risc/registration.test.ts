import { writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { runAdminCommand } from '../../../src/admin/commands.ts'
import { registerRiscReceiver } from '../../../src/google/risc/risc-registration.ts'
import { connectWithTokens } from '../../gmail/helpers.ts'
import { gql } from '../../helper.ts'
import { ALICE, buildRiscApp, settled } from './helpers.ts'
import { GmailStatusDocument } from '../../support/generated/graphql.ts'

t.test('google-risc-register: stream:update then stream:verify as the service account; events then arrive', async (t) => {
  const ctx = await buildRiscApp(t)
  ctx.google.state.risc.stream = undefined
  const key = ctx.google.state.risc.serviceAccountKey(ctx.google.baseUrl)
  const file = path.join(tmpdir(), `risc-sa-${process.pid}.json`)
  await writeFile(file, JSON.stringify(key), { mode: 0o600 })
  ctx.app.config.GOOGLE_RISC_SERVICE_ACCOUNT_FILE = file
  const result = await runAdminCommand(ctx.app, ['google-risc-register', ctx.receiverUrl]) as { verificationState: string }
  t.equal((ctx.google.state.risc.stream as { url: string } | undefined)?.url, ctx.receiverUrl)
  const [verification] = await settled(ctx)
  t.equal(verification!.last, 202, 'the verification event was accepted')
  t.ok(ctx.logs.some((l) => l.includes(result.verificationState)), 'and logged with its state')

  await connectWithTokens(ctx)
  ctx.google.state.revokeUserAccess(ALICE.email)
  await settled(ctx)
  t.equal((await gql(ctx.app, GmailStatusDocument, {}, { token: ctx.user.accessToken })).data?.gmailStatus.state, 'RECONNECT_REQUIRED')
})

t.test('the emulator refuses a management call not signed by its service account', async (t) => {
  const ctx = await buildRiscApp(t, { listen: false })
  const key = ctx.google.state.risc.serviceAccountKey(ctx.google.baseUrl) as { client_email: string, private_key: string, private_key_id: string }
  const other = (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  await t.rejects(registerRiscReceiver({ key: { ...key, private_key: other }, receiverUrl: ctx.receiverUrl, baseUrl: ctx.google.baseUrl }), /answered 401/)
  await t.rejects(runAdminCommand(ctx.app, ['google-risc-register']), { name: 'AdminError' })
})
