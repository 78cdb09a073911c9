import { randomBytes, randomUUID } from 'node:crypto'
import { inspect } from 'node:util'
import t, { test } from 'tap'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { ErrorCodes } from '../../src/errors.ts'
import { DataKeyCache } from '../../src/vault/data-key-cache.ts'
import { KmsEnvelopeVault } from '../../src/vault/kms-envelope-vault.ts'
import type { KmsEnvelopeVaultOptions } from '../../src/vault/kms-envelope-vault.ts'
import { VAULT_UNAVAILABLE_MESSAGE } from '../../src/vault/token-vault.ts'
import { gmailBundle } from '../support/fixtures.ts'
import { buildTestApp } from '../helper.ts'
import { createKmsKey } from '../support/kms.ts'
import { startMoto, useMotoEnv } from '../support/moto.ts'

// TOKEN_VAULT=kms against moto's KMS and a real database (PGlite, or PostgreSQL with TEST_DATABASE_URL).
// KMS calls are counted by the vault itself (kmsStats), not by moto.

const moto = await startMoto()
t.teardown(() => moto.stop())
useMotoEnv(t, moto)
const keyArn = await createKmsKey(moto.endpoint, 'inboxgate-test')

/** The app configured with TOKEN_VAULT=kms (the real configuration path), and its vault. */
async function kmsApp (t: Test, env: Record<string, string> = {}): Promise<{ app: FastifyInstance, vault: KmsEnvelopeVault }> {
  const { app } = await buildTestApp(t, { env: { TOKEN_VAULT: 'kms', KMS_KEY_ID: keyArn, ...env } })
  t.ok(app.vault instanceof KmsEnvelopeVault, 'TOKEN_VAULT=kms gives the KMS vault')
  return { app, vault: app.vault as KmsEnvelopeVault }
}

/** Another instance on the same database (a second server, or this one after a restart): an empty key cache. */
function sibling (t: Test, app: FastifyInstance, options: Partial<KmsEnvelopeVaultOptions> = {}): KmsEnvelopeVault {
  const vault = new KmsEnvelopeVault({ prisma: app.prisma, keyId: keyArn, ...options })
  t.teardown(() => vault.close())
  return vault
}

const kmsCalls = (v: KmsEnvelopeVault) => { const s = v.kmsStats(); return s.generateDataKey + s.decrypt + s.reEncrypt + s.describeKey }

function assertOpaque (t: Test, err: unknown, secrets: string[]) {
  t.equal((err as { code?: unknown }).code, ErrorCodes.VAULT_UNAVAILABLE)
  const rendered = [JSON.stringify(err), inspect(err, { depth: null, showHidden: true }), String((err as Error).cause), (err as Error).stack ?? ''].join('\n')
  for (const s of secrets) t.notOk(rendered.includes(s), 'no token in the error, its cause or its stack')
}

test('round trip: sealed in vault_envelopes, nothing readable in the database, one GenerateDataKey', async (t) => {
  const { app, vault } = await kmsApp(t)
  const userId = randomUUID()
  const bundle = gmailBundle()
  t.equal(await vault.get(userId), null)
  await vault.put(userId, bundle)
  t.same(await vault.get(userId), bundle)
  t.same(vault.kmsStats(), { generateDataKey: 1, decrypt: 0, reEncrypt: 0, describeKey: 0, errors: 0, cacheHits: 1 }, 'the read right after the write used the cached data key')
  const exported = await app.metrics.registry.getSingleMetricAsString('inboxgate_kms_requests_total')
  t.match(exported, /operation="generateDataKey"\} 1/, 'KMS requests per operation on /metrics')
  t.match(exported, /operation="cacheHits"\} 1/)

  const rows = await app.prisma.$queryRawUnsafe<Array<Record<string, unknown>>>('SELECT * FROM vault_envelopes')
  t.equal(rows.length, 1)
  t.equal(rows[0]!.name, `gmail/user/${userId}`)
  t.equal(rows[0]!.kms_key_arn, keyArn)
  const dump = JSON.stringify(rows, (_k, v: unknown) => v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v)
  for (const s of [bundle.accessToken, bundle.refreshToken, bundle.email]) t.notOk(dump.includes(s), 'no token or address in the row')
  t.equal(await app.prisma.gmailConnection.count(), 0, 'nothing beside the rows GraphQL reads')
  await vault.delete(userId)
  await vault.delete(userId)
  t.equal(await vault.get(userId), null, 'delete is immediate and idempotent')
  t.equal(vault.cachedDataKeys, 0, 'the deleted user\'s data key is dropped')
})

test('counted KMS calls: a cold read is one Decrypt, a refresh (read then write) at most one, warm reads none', async (t) => {
  const { app, vault } = await kmsApp(t)
  const userId = randomUUID()
  await vault.put(userId, gmailBundle())
  const other = sibling(t, app)
  await other.get(userId)
  t.equal(other.kmsStats().decrypt, 1, 'a cold instance decrypts the data key once')
  for (let i = 0; i < 5; i++) await other.get(userId)
  t.equal(kmsCalls(other), 1, 'then reads are free')
  const fresh = sibling(t, app)
  // A refresh: read under the lock, write the new token.
  const held = await fresh.get(userId)
  await fresh.put(userId, { ...held!, accessToken: 'ya29.refreshed', obtainedAt: Date.now() })
  t.equal(kmsCalls(fresh), 1, 'a refresh on a cold instance: one KMS call (the Decrypt), the write reuses the key')
  t.equal((await other.get(userId))?.accessToken, 'ya29.refreshed', 'the first instance reads the new version with its cached key')
  t.equal(kmsCalls(other), 1, 'same wrapped key: still no KMS call')
})

test('a ciphertext moved to another user\'s row does not open, cached key or not', async (t) => {
  const { app, vault } = await kmsApp(t)
  const alice = randomUUID()
  const mallory = randomUUID()
  const aliceBundle = gmailBundle()
  await vault.put(alice, aliceBundle)
  await vault.put(mallory, gmailBundle({ email: 'mallory@example.com' }))
  const aliceRow = await app.prisma.vaultEnvelope.findUniqueOrThrow({ where: { name: `gmail/user/${alice}` } })
  const { name: _n, updatedAt: _u, ...columns } = aliceRow
  await app.prisma.vaultEnvelope.update({ where: { name: `gmail/user/${mallory}` }, data: columns })
  for (const [label, v] of [['the writing instance (keys cached)', vault], ['a cold instance', sibling(t, app)]] as const) {
    const err = await v.get(mallory).then(() => null, (e: unknown) => e)
    t.ok(err, `${label}: refused`)
    assertOpaque(t, err, [aliceBundle.accessToken, aliceBundle.refreshToken])
    t.equal((err as Error).message, 'Token vault record could not be decrypted (wrong vault key or tampered record)')
  }
  t.same(await vault.get(alice), aliceBundle, 'the original still opens')
  // With Alice's wrapped key but Mallory's own ciphertext, the data key does not fit either (KMS refuses the context).
  const cold = sibling(t, app)
  await t.rejects(cold.get(mallory), { code: ErrorCodes.VAULT_UNAVAILABLE })
  t.equal(cold.kmsStats().errors, 1, 'KMS itself refused: the encryption context names Alice')
})

test('a tampered ciphertext, IV or tag is refused', async (t) => {
  const { app, vault } = await kmsApp(t)
  const userId = randomUUID()
  await vault.put(userId, gmailBundle())
  const name = `gmail/user/${userId}`
  const row = await app.prisma.vaultEnvelope.findUniqueOrThrow({ where: { name } })
  for (const field of ['ciphertext', 'iv', 'tag'] as const) {
    const bad = Buffer.from(row[field])
    bad[0] = bad[0]! ^ 1
    await app.prisma.vaultEnvelope.update({ where: { name }, data: { [field]: new Uint8Array(bad) } })
    await t.rejects(vault.get(userId), { code: ErrorCodes.VAULT_UNAVAILABLE }, field)
    await app.prisma.vaultEnvelope.update({ where: { name }, data: { [field]: row[field] } })
  }
  t.ok(await vault.get(userId))
})

test('KMS down: VAULT_UNAVAILABLE within the timeouts, nothing deleted or overwritten; it recovers', async (t) => {
  const { app } = await kmsApp(t)
  const userId = randomUUID()
  const bundle = gmailBundle()
  const writer = sibling(t, app)
  await writer.put(userId, bundle)
  const before = await app.prisma.vaultEnvelope.findUniqueOrThrow({ where: { name: `gmail/user/${userId}` } })
  const vault = sibling(t, app, { maxAttempts: 1, requestTimeoutMs: 300, connectionTimeoutMs: 300 })
  moto.pause()
  t.teardown(() => moto.resume())
  const start = performance.now()
  const read = await vault.get(userId).then(() => null, (e: unknown) => e)
  t.ok(performance.now() - start < 3000, 'bounded by the timeouts')
  assertOpaque(t, read, [bundle.accessToken, bundle.refreshToken])
  t.equal((read as Error).message, VAULT_UNAVAILABLE_MESSAGE)
  await t.rejects(vault.put(randomUUID(), gmailBundle()), { code: ErrorCodes.VAULT_UNAVAILABLE }, 'a new data key cannot be had either')
  await t.rejects(vault.checkReachable(), { code: ErrorCodes.VAULT_UNAVAILABLE }, 'readiness fails')
  const after = await app.prisma.vaultEnvelope.findUniqueOrThrow({ where: { name: `gmail/user/${userId}` } })
  t.same(after, before, 'the record is untouched')
  moto.resume()
  t.same(await vault.get(userId), bundle, 'recovers without a restart')
  await vault.checkReachable()
})

test('the data-key cache is bounded in uses, age and entries', async (t) => {
  const { app } = await kmsApp(t)
  const userId = randomUUID()
  const writer = sibling(t, app)
  await writer.put(userId, gmailBundle())
  const twoUses = sibling(t, app, { dataKeyMaxUses: 2 })
  for (let i = 0; i < 4; i++) await twoUses.get(userId)
  t.equal(twoUses.kmsStats().decrypt, 2, 'two uses per key: four reads, two Decrypts')
  const shortLived = sibling(t, app, { dataKeyMaxAgeMs: 200 })
  await shortLived.get(userId)
  await shortLived.get(userId)
  await new Promise((resolve) => setTimeout(resolve, 300))
  await shortLived.get(userId)
  t.equal(shortLived.kmsStats().decrypt, 2, 'an expired key is fetched again')
  const uncached = sibling(t, app, { dataKeyCacheEntries: 0 })
  await uncached.get(userId)
  await uncached.get(userId)
  t.equal(uncached.kmsStats().decrypt, 2, 'no cache: one Decrypt per read')
  t.equal(uncached.cachedDataKeys, 0)
  const one = sibling(t, app, { dataKeyCacheEntries: 1 })
  const second = randomUUID()
  await one.put(userId, gmailBundle())
  await one.put(second, gmailBundle())
  t.equal(one.cachedDataKeys, 1, 'least recently used dropped')
})

test('keys leaving the cache are zeroed', async (t) => {
  const cache = new DataKeyCache({ maxAgeMs: 60_000, maxUses: 3, maxEntries: 1 })
  t.teardown(() => cache.close())
  const key = () => ({ key: randomBytes(32), wrapped: randomBytes(8), kmsKeyArn: 'arn' })
  const zero = Buffer.alloc(32)
  const a = key()
  cache.adopt('a', a, () => null)
  const b = key()
  cache.adopt('b', b, () => null)
  t.same(a.key, zero, 'evicted (entries bound): zeroed')
  cache.use('b', b.wrapped, () => true, () => null)
  cache.use('b', b.wrapped, () => true, () => null)
  t.same(b.key, zero, 'used up: zeroed')
  const c = key()
  cache.adopt('c', c, () => null)
  cache.close()
  t.same(c.key, zero, 'close zeroes the rest')
  const off = new DataKeyCache({ maxAgeMs: 60_000, maxUses: 3, maxEntries: 0 })
  const d = key()
  off.adopt('d', d, () => null)
  t.same(d.key, zero, 'caching off: zeroed after its one use')
  off.close()
})

test('rewrap-vault: data keys move to the new KMS key, ciphertexts untouched; old records open until then', async (t) => {
  const { app, vault } = await kmsApp(t, { TOKEN_VAULT_PREFIX: `r${randomUUID().slice(0, 8)}/` })
  const prefix = app.config.TOKEN_VAULT_PREFIX
  const users = [randomUUID(), randomUUID(), randomUUID()]
  const bundles = users.map(() => gmailBundle())
  for (const [i, u] of users.entries()) await vault.put(u, bundles[i]!)
  const before = await app.prisma.vaultEnvelope.findMany({ orderBy: { name: 'asc' } })

  const newKey = await createKmsKey(moto.endpoint)
  const rotated = sibling(t, app, { keyId: newKey, prefix })
  t.same(await rotated.get(users[0]!), bundles[0], 'a record under the old key opens with KMS_KEY_ID pointing at the new one')
  await rotated.put(users[0]!, bundles[0]!)
  t.equal((await app.prisma.vaultEnvelope.findUniqueOrThrow({ where: { name: `${prefix}${users[0]}` } })).kmsKeyArn, newKey, 'a write after the rotation wraps under the new key')

  const report = await rotated.rewrapAll()
  t.match(report, { scanned: 3, rewrapped: 2, alreadyCurrent: 1, changedMeanwhile: 0, failed: 0, kmsKeyArn: newKey })
  t.equal(rotated.kmsStats().reEncrypt, 2)
  const after = await app.prisma.vaultEnvelope.findMany({ orderBy: { name: 'asc' } })
  for (const [i, row] of after.entries()) {
    t.equal(row.kmsKeyArn, newKey)
    if (row.name !== `${prefix}${users[0]}`) t.same(Buffer.from(row.ciphertext), Buffer.from(before[i]!.ciphertext), 'ciphertext untouched')
  }
  const cold = sibling(t, app, { keyId: newKey, prefix })
  for (const [i, u] of users.entries()) t.same(await cold.get(u), bundles[i], 'opens after the rewrap')
  t.match(await rotated.rewrapAll(), { rewrapped: 0, alreadyCurrent: 3 }, 'a second run has nothing to do')
})

test('list, prefix, invalid input, readiness names KMS', async (t) => {
  const { app, vault } = await kmsApp(t, { TOKEN_VAULT_PREFIX: 'tenant-a/gmail/' })
  const users = [randomUUID(), randomUUID()].sort()
  for (const u of users) await vault.put(u, gmailBundle())
  await app.prisma.vaultEnvelope.create({ data: { name: 'tenant-a/gmail/not-a-user', kmsKeyArn: keyArn, wrappedKey: new Uint8Array(1), iv: new Uint8Array(12), ciphertext: new Uint8Array(1), tag: new Uint8Array(16) } })
  t.same(await vault.list(), { userIds: users, unidentified: 1 })
  await t.rejects(vault.get('Not-A-Uuid'), TypeError)
  await t.rejects(vault.put(users[0]!, { ...gmailBundle(), refreshToken: '' }), TypeError)
  const res = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { status: 'ready', checks: { database: 'ok', vault: 'ok', kms: 'ok' } })
})
