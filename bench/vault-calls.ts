// `npx tsx bench/vault-calls.ts [users]`: backend calls and latency per custody operation, Secrets Manager vault vs
// KMS vault, both against moto_server (KMS requests counted by the vault itself, Secrets Manager requests by a
// middleware on its client). Prints the markdown section of BENCHMARKS.md. moto answers locally: latencies are
// this machine's, not AWS's (add a network round trip per call there), so the call counts are the result that carries.
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { applyMigrations } from '../src/db/migrations.ts'
import { openDatabase } from '../src/db/prisma.ts'
import { PrismaClient } from '../src/generated/prisma/client.ts'
import { AwsSecretsManagerVault } from '../src/vault/aws-secrets-manager-vault.ts'
import { KmsEnvelopeVault } from '../src/vault/kms-envelope-vault.ts'
import type { GmailTokenBundle, TokenVault } from '../src/vault/token-vault.ts'
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms'
import { startMoto } from '../test/support/moto.ts'

const USERS = Number(process.argv[2] ?? '30')
const moto = await startMoto()
Object.assign(process.env, { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_ENDPOINT_URL: moto.endpoint })
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'vault-bench-'))
const db = await openDatabase('memory://', dataDir)
await applyMigrations(db.migrationAdapter())
const prisma = new PrismaClient({ adapter: db.adapter })
// Not test/support/kms.ts: it loads tap, whose root test would time this script out.
const kmsAdmin = new KMSClient({})
const keyArn = (await kmsAdmin.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!
kmsAdmin.destroy()

let smRequests = 0
const smPrefix = `bench${randomUUID().slice(0, 6)}/`
function smVault (): AwsSecretsManagerVault {
  const client = new SecretsManagerClient({ maxAttempts: 1 })
  client.middlewareStack.add((next) => async (args) => { smRequests++; return await next(args) }, { step: 'initialize', name: 'count' })
  // One prefix for every instance: a second instance must see the first one's secrets.
  return new AwsSecretsManagerVault({ client, prefix: smPrefix })
}
const kmsVaults: KmsEnvelopeVault[] = []
const kmsVault = (prefix: string) => { const v = new KmsEnvelopeVault({ prisma, keyId: keyArn, prefix }); kmsVaults.push(v); return v }
const kmsRequests = () => kmsVaults.reduce((n, v) => { const s = v.kmsStats(); return n + s.generateDataKey + s.decrypt + s.reEncrypt + s.describeKey }, 0)

const bundle = (): GmailTokenBundle => ({
  version: 1,
  accessToken: `ya29.${randomBytes(60).toString('base64url')}`,
  refreshToken: `1//${randomBytes(60).toString('base64url')}`,
  expiryDate: Date.now() + 3_599_000,
  scope: ['https://www.googleapis.com/auth/gmail.readonly'],
  clientId: 'web.apps.googleusercontent.com',
  googleSub: '109876543210987654321',
  email: 'user@gmail.example',
  obtainedAt: Date.now()
})

interface Row { op: string, calls: number, p50: number, p95: number }
async function measure (op: string, users: string[], count: () => number, run: (u: string) => Promise<unknown>): Promise<Row> {
  const ms: number[] = []
  const before = count()
  for (const u of users) {
    const start = performance.now()
    await run(u)
    ms.push(performance.now() - start)
  }
  ms.sort((a, b) => a - b)
  return { op, calls: (count() - before) / users.length, p50: ms[Math.floor(ms.length / 2)]!, p95: ms[Math.floor(ms.length * 0.95)]! }
}

async function scenario (name: string, make: () => TokenVault, count: () => number): Promise<Row[]> {
  const users = Array.from({ length: USERS }, () => randomUUID())
  const a = make()
  const rows: Row[] = []
  rows.push(await measure('connect (first write)', users, count, async (u) => await a.put(u, bundle())))
  rows.push(await measure('fresh-token read, same instance', users, count, async (u) => await a.get(u)))
  const b = make() // another instance (or a restart): nothing cached
  rows.push(await measure('fresh-token read, cold instance', users, count, async (u) => await b.get(u)))
  const c = make()
  rows.push(await measure('refresh (read + write), cold instance', users, count, async (u) => { const held = await c.get(u); await c.put(u, { ...held!, accessToken: bundle().accessToken }) }))
  rows.push(await measure('refresh (read + write), warm instance', users, count, async (u) => { const held = await c.get(u); await c.put(u, { ...held!, accessToken: bundle().accessToken }) }))
  rows.push(await measure('disconnect (delete)', users, count, async (u) => await c.delete(u)))
  console.error(`${name}: done`)
  return rows
}

try {
  const sm = await scenario('Secrets Manager', () => { const v = smVault(); return v }, () => smRequests)
  const prefix = `bench${randomUUID().slice(0, 6)}/`
  const kms = await scenario('KMS', () => kmsVault(prefix), kmsRequests)
  const f = (n: number) => n.toFixed(n < 10 ? 1 : 0)
  console.log(`| operation (${USERS} users each) | Secrets Manager calls | p50 ms | p95 ms | KMS calls | p50 ms | p95 ms |`)
  console.log('|---|---:|---:|---:|---:|---:|---:|')
  for (const [i, s] of sm.entries()) {
    const k = kms[i]!
    console.log(`| ${s.op} | ${s.calls.toFixed(2)} | ${f(s.p50)} | ${f(s.p95)} | ${k.calls.toFixed(2)} | ${f(k.p50)} | ${f(k.p95)} |`)
  }
} finally {
  for (const v of kmsVaults) await v.close()
  await prisma.$disconnect()
  await db.close()
  await moto.stop()
  await rm(dataDir, { recursive: true, force: true })
}
process.exit(0)
