import { spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t, { test } from 'tap'
import type { Test } from 'tap'
import { startGoogleEmulator } from '../../emulators/google/app.ts'
import type { UserInput } from '../../emulators/google/state.ts'
import { runAdminCommand } from '../../src/admin/commands.ts'
import { AdminError } from '../../src/admin/usage.ts'
import { ManualClock } from '../../src/clock.ts'
import { grantHashOf } from '../../src/gmail/grant-lock.ts'
import { AwsSecretsManagerVault } from '../../src/vault/aws-secrets-manager-vault.ts'
import { MigratingTokenVault } from '../../src/vault/migrating-token-vault.ts'
import type { GmailTokenBundle } from '../../src/vault/index.ts'
import { migrateVault } from '../../src/vault-migration/migrate-vault.ts'
import type { MigrationReport } from '../../src/vault-migration/migrate-vault.ts'
import { signUp } from '../helper.ts'
import { createKmsKey } from '../support/kms.ts'
import { startMoto, useMotoEnv } from '../support/moto.ts'
import { buildGmailApp, connectWithTokens, FOREIGN_IOS, IOS, WEB } from '../gmail/helpers.ts'
import type { GmailTestContext } from '../gmail/helpers.ts'

// Issue 24 item 3: migrate-vault aws → kms while the app keeps refreshing (TOKEN_VAULT=kms, TOKEN_VAULT_PREVIOUS=aws),
// on moto (Secrets Manager and KMS), PGlite or PostgreSQL (TEST_DATABASE_URL); and a real admin process SIGKILLed
// half-way, then run again.

const moto = await startMoto()
t.teardown(() => moto.stop())
useMotoEnv(t, moto)
const keyArn = await createKmsKey(moto.endpoint)
const repoRoot = path.resolve(import.meta.dirname, '../..')
const GOOGLE_USERS: UserInput[] = Array.from({ length: 6 }, (_, i) => ({ sub: `20000000000000000000${i}`, email: `m${i}@gmail.example`, name: `M${i}` }))

async function migratingApp (t: Test): Promise<GmailTestContext & { vault: MigratingTokenVault, users: string[] }> {
  const clock = new ManualClock()
  const google = await startGoogleEmulator({ clients: [WEB, IOS, FOREIGN_IOS], users: GOOGLE_USERS, clock })
  t.teardown(() => google.close())
  const ctx = await buildGmailApp(t, {
    google,
    clock,
    env: { TOKEN_VAULT: 'kms', TOKEN_VAULT_PREVIOUS: 'aws', KMS_KEY_ID: keyArn, TOKEN_VAULT_PREFIX: `m${randomUUID().slice(0, 8)}/gmail/user/`, GOOGLE_TIMEOUT_MS: '10000' }
  })
  const vault = ctx.app.vault
  if (!(vault instanceof MigratingTokenVault)) throw new Error('TOKEN_VAULT_PREVIOUS did not give the migrating vault')
  const users: string[] = []
  for (const g of GOOGLE_USERS) {
    const u = g === GOOGLE_USERS[0] ? ctx.user : await signUp(ctx.app).then((s) => ({ id: s.user.id, accessToken: s.accessToken }))
    const res = await connectWithTokens(ctx, g, u.accessToken)
    if (res.errors != null) throw new Error(JSON.stringify(res.errors))
    // Connected before the switch: the grant is in Secrets Manager only.
    const bundle = await vault.current.get(u.id)
    await vault.previous.put(u.id, bundle!)
    await vault.current.delete(u.id)
    users.push(u.id)
  }
  return { ...ctx, vault, users }
}

test('aws → kms with refreshes racing the copy: no grant lost, the source left intact, a second run copies nothing', async (t) => {
  const ctx = await migratingApp(t)
  const { vault, users } = ctx
  const sourceBefore = new Map<string, GmailTokenBundle>()
  for (const u of users) sourceBefore.set(u, (await vault.previous.get(u))!)
  ctx.clock.advance(57 * 60_000) // every access token inside the refresh margin
  const [report, ...tokens] = await Promise.all<[Promise<MigrationReport>, ...Array<Promise<string>>]>([
    migrateVault(vault, ctx.app.gmailConnections, { deleteSource: false }),
    ...users.map(async (u) => await ctx.app.gmailConnections.getGmailAccessToken(u)),
    ...users.map(async (u) => await ctx.app.gmailConnections.getGmailAccessToken(u))
  ])
  t.equal(tokens.filter((x) => typeof x === 'string' && x.startsWith('ya29.')).length, users.length * 2, 'every refresh served a token')
  t.match(report, { from: 'aws', to: 'kms', listed: users.length, failed: 0, sourceDeleted: 0 })
  t.equal(report.copied + report.alreadyPresent, users.length)
  for (const u of users) {
    const held = await vault.current.get(u)
    const row = await ctx.app.prisma.gmailConnection.findUniqueOrThrow({ where: { userId: u } })
    t.equal(row.state, 'ACTIVE')
    t.equal(row.grantHash, grantHashOf(held!.refreshToken), 'the KMS vault holds the grant the row names')
    t.ok(held!.expiryDate > ctx.clock.now().getTime() + 30 * 60_000, 'the refreshed token, not the one copied before it')
    t.same(await vault.previous.get(u), sourceBefore.get(u), 'the source copy is untouched (writes go to the new vault only)')
  }
  t.match(await migrateVault(vault, ctx.app.gmailConnections, { deleteSource: false }), { copied: 0, alreadyPresent: users.length, failed: 0 }, 'idempotent')
})

test('migrate-vault through the admin command: refusals, then --delete-source; servers read the new vault only', async (t) => {
  const ctx = await migratingApp(t)
  const { vault, users } = ctx
  for (const argv of [['migrate-vault'], ['migrate-vault', '--to', 'aws'], ['migrate-vault', '--to', 'kms', '--force']]) {
    await t.rejects(runAdminCommand(ctx.app, argv), AdminError, argv.join(' '))
  }
  const lines: string[] = []
  const report = await runAdminCommand(ctx.app, ['migrate-vault', '--to', 'kms', '--delete-source'], (l) => lines.push(l)) as MigrationReport
  t.match(report, { copied: users.length, sourceDeleted: users.length, failed: 0 })
  t.ok(lines.at(-1)?.includes(`${users.length}/${users.length}`), 'progress printed')
  t.notOk(JSON.stringify(report).includes('ya29.') || lines.join('').includes('ya29.'), 'no token in the summary or progress')
  t.same((await vault.previous.list()).userIds, [], 'source emptied')
  for (const u of users) t.ok(await ctx.app.gmailConnections.getGmailAccessToken(u))
  // A disconnect during a migration deletes both copies: the fallback cannot bring the grant back.
  await vault.previous.put(users[0]!, (await vault.current.get(users[0]!))!)
  await vault.delete(users[0]!)
  t.equal(await vault.get(users[0]!), null)
})

test('a migration SIGKILLed half-way resumes: the next run copies the rest, the one after nothing', async (t) => {
  const prefix = `k${randomUUID().slice(0, 8)}/gmail/user/`
  const dataDir = await mkdtemp(path.join(tmpdir(), 'inboxgate-migrate-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const source = new AwsSecretsManagerVault({ prefix })
  t.teardown(() => source.close())
  const N = 120
  const ids = Array.from({ length: N }, () => randomUUID())
  for (let i = 0; i < N; i += 20) {
    await Promise.all(ids.slice(i, i + 20).map(async (id) => await source.put(id, {
      version: 1,
      accessToken: `ya29.${randomBytes(12).toString('hex')}`,
      refreshToken: `1//${randomBytes(12).toString('hex')}`,
      expiryDate: Date.now() + 3_600_000,
      scope: ['https://www.googleapis.com/auth/gmail.readonly'],
      clientId: WEB.id,
      googleSub: id,
      email: 'x@gmail.example',
      obtainedAt: Date.now()
    })))
  }
  const pgUrl = process.env.TEST_DATABASE_URL
  const env = {
    ...process.env,
    DATA_DIR: dataDir,
    ...(pgUrl != null && pgUrl !== '' ? { DATABASE_URL: `${pgUrl}${pgUrl.includes('?') ? '&' : '?'}schema=mig_${randomBytes(4).toString('hex')}` } : { DATABASE_URL: '' }),
    JWT_SECRET: randomBytes(32).toString('base64url'),
    TOKEN_VAULT: 'kms',
    TOKEN_VAULT_PREVIOUS: 'aws',
    KMS_KEY_ID: keyArn,
    TOKEN_VAULT_PREFIX: prefix
  }
  const run = (killAfterProgress: boolean) => new Promise<{ code: number | null, signal: string | null, stdout: string, stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/admin/cli.ts', 'migrate-vault', '--to', 'kms'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => { stdout += String(c) })
    child.stderr.on('data', (c: Buffer) => {
      stderr += String(c)
      // Killed once a first batch is done, with more to go.
      const m = /migrate-vault: (\d+)\/\d+/.exec(String(c))
      if (killAfterProgress && m != null && Number(m[1]) >= 20 && Number(m[1]) < N) child.kill('SIGKILL')
    })
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
  t.setTimeout(900_000) // three cold starts of the admin process on a loaded machine
  let started = performance.now()
  const first = await run(true)
  t.comment(`first run: ${Math.round(performance.now() - started)} ms, ${first.stderr.split('\n').filter((l) => l.startsWith('migrate-vault')).join(' | ')}`)
  started = performance.now()
  t.equal(first.signal, 'SIGKILL', 'the first run was killed half-way')
  const second = await run(false)
  t.comment(`second run: ${Math.round(performance.now() - started)} ms`)
  t.equal(second.code, 0, second.stderr.slice(-2000))
  const report = JSON.parse(second.stdout) as MigrationReport
  t.equal(report.listed, N)
  t.equal(report.failed, 0)
  t.equal(report.copied + report.alreadyPresent, N)
  t.ok(report.alreadyPresent >= 20, `the killed run's copies were kept (${report.alreadyPresent})`)
  t.ok(report.copied >= 1, `the rest was copied (${report.copied})`)
  const third = await run(false)
  t.match(JSON.parse(third.stdout), { copied: 0, alreadyPresent: N, failed: 0 }, 'a third run does nothing')
  t.equal((await source.list()).userIds.length, N, 'the source is intact')
})
