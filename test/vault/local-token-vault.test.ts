import { randomBytes, randomUUID } from 'node:crypto'
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { inspect } from 'node:util'
import { test } from 'tap'
import type { Test } from 'tap'
import { sha256Hex } from '../../src/crypto/hashing.ts'
import { ErrorCodes } from '../../src/errors.ts'
import { createTokenVault } from '../../src/vault/index.ts'
import { LocalTokenVault, loadOrCreateLocalVaultKey } from '../../src/vault/local-token-vault.ts'
import { DEFAULT_SECRET_PREFIX, secretName } from '../../src/vault/token-vault.ts'
import type { GmailTokenBundle } from '../../src/vault/token-vault.ts'
import { gmailBundle } from '../support/fixtures.ts'

// This file's sample differs from the shared one only in clientId.
const makeBundle = (overrides: Partial<GmailTokenBundle> = {}): GmailTokenBundle => gmailBundle({ clientId: 'ios-client.apps.googleusercontent.com', ...overrides })

function makeVault (t: Test, key = randomBytes(32)) {
  const dir = path.join(t.testdir(), 'vault')
  return { vault: new LocalTokenVault({ key, dir }), dir, key }
}

async function filesIn (dir: string): Promise<string[]> {
  return (await readdir(dir)).sort()
}

async function rejection (p: Promise<unknown>): Promise<unknown> {
  return p.then(() => {
    throw new Error('expected a rejection')
  }, (err: unknown) => err)
}

test('round trip, overwrite, delete, idempotent delete, put right after delete', async (t) => {
  const { vault } = makeVault(t)
  const userId = randomUUID()
  t.equal(await vault.get(userId), null)

  const first = makeBundle()
  await vault.put(userId, first)
  t.same(await vault.get(userId), first)

  const second = makeBundle({ scope: ['https://www.googleapis.com/auth/gmail.readonly', 'openid'] })
  await vault.put(userId, second)
  t.same(await vault.get(userId), second, 'overwritten')

  await vault.delete(userId)
  t.equal(await vault.get(userId), null)
  await vault.delete(userId)
  await vault.delete(randomUUID())

  const third = makeBundle()
  await vault.put(userId, third)
  t.same(await vault.get(userId), third, 'reconnect right after a disconnect')
  t.equal(vault.kind, 'local')
})

test('records are encrypted, private and named without the user id', async (t) => {
  const { vault, dir } = makeVault(t)
  const userId = randomUUID()
  const bundle = makeBundle()
  await vault.put(userId, bundle)

  const files = await filesIn(dir)
  t.equal(files.length, 1, 'one file per user, no temporary file left behind')
  const file = path.join(dir, files[0] as string)
  t.match(files[0], /^[0-9a-f]{64}\.json$/)

  const content = await readFile(file, 'utf8')
  for (const secret of [bundle.accessToken, bundle.refreshToken, bundle.email, bundle.googleSub, userId, 'ya29.']) {
    t.notOk(content.includes(secret), 'no plaintext in the record')
    t.notOk(files[0]?.includes(secret), 'nor in the file name')
  }
  const record = JSON.parse(content) as Record<string, unknown>
  t.same(Object.keys(record).sort(), ['alg', 'ct', 'iv', 'kid', 'nm', 'tag', 'v'])
  t.match(record.kid, /^[0-9a-f]{16}$/, 'a key id that names the key without revealing it')
  t.equal(record.alg, 'A256GCM')

  t.equal((await stat(file)).mode & 0o777, 0o600, 'record is 0600')
  t.equal((await stat(dir)).mode & 0o777, 0o700, 'directory is 0700')
})

test('the directory is tightened even when it already existed with loose permissions', async (t) => {
  const dir = path.join(t.testdir(), 'vault')
  await mkdir(dir, { mode: 0o755 })
  const vault = new LocalTokenVault({ key: randomBytes(32), dir })
  await vault.put(randomUUID(), makeBundle())
  t.equal((await stat(dir)).mode & 0o777, 0o700)
})

test('a wrong key is VAULT_UNAVAILABLE with a clear message and no content', async (t) => {
  const { vault, dir } = makeVault(t)
  const userId = randomUUID()
  const bundle = makeBundle()
  await vault.put(userId, bundle)

  const other = new LocalTokenVault({ key: randomBytes(32), dir })
  const err = await rejection(other.get(userId))
  t.equal((err as { code?: string }).code, ErrorCodes.VAULT_UNAVAILABLE)
  t.match((err as Error).message, /wrong vault key or tampered record/)
  const rendered = inspect(err, { depth: null, showHidden: true }) + JSON.stringify(err)
  t.notOk(rendered.includes(bundle.refreshToken))
  t.notOk(rendered.includes(dir), 'no path either')
})

test('tampering with any part of a record is detected', async (t) => {
  const { vault, dir } = makeVault(t)
  const userId = randomUUID()
  await vault.put(userId, makeBundle())
  const file = path.join(dir, (await filesIn(dir))[0] as string)
  const original = JSON.parse(await readFile(file, 'utf8')) as Record<string, string>

  const flip = (b64: string) => {
    const buf = Buffer.from(b64, 'base64url')
    buf[buf.length - 1] = (buf[buf.length - 1] as number) ^ 0x01
    return buf.toString('base64url')
  }
  const variants: Array<[string, unknown]> = [
    ['ciphertext bit flipped', { ...original, ct: flip(original.ct as string) }],
    ['tag bit flipped', { ...original, tag: flip(original.tag as string) }],
    ['iv bit flipped', { ...original, iv: flip(original.iv as string) }],
    ['tag truncated to 4 bytes', { ...original, tag: (original.tag as string).slice(0, 6) }],
    ['unknown version', { ...original, v: 2 }],
    ['not JSON', 'ya29.not-a-record']
  ]
  for (const [label, content] of variants) {
    await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content))
    const err = await rejection(vault.get(userId))
    t.equal((err as { code?: string }).code, ErrorCodes.VAULT_UNAVAILABLE, label)
    t.notOk(inspect(err, { depth: null }).includes('ya29.not-a-record'), `${label}: content not echoed`)
  }
})

test("a record copied onto another user's name does not decrypt (AAD)", async (t) => {
  const { vault, dir } = makeVault(t)
  const alice = randomUUID()
  const mallory = randomUUID()
  await vault.put(alice, makeBundle({ email: 'alice@example.com' }))
  const [aliceFile] = await filesIn(dir)
  await vault.put(mallory, makeBundle({ email: 'mallory@example.com' }))
  const malloryFile = (await filesIn(dir)).find((f) => f !== aliceFile)
  t.ok(aliceFile !== undefined && malloryFile !== undefined)

  // Mallory's record under Alice's file name: same key, authentic ciphertext, wrong user.
  await copyFile(path.join(dir, malloryFile as string), path.join(dir, aliceFile as string))
  const err = await rejection(vault.get(alice))
  t.equal((err as { code?: string }).code, ErrorCodes.VAULT_UNAVAILABLE, "refused rather than handing over another user's grant")
  t.equal((await vault.get(mallory))?.email, 'mallory@example.com', 'the genuine record still reads')
})

test('invalid user ids and bundles are refused before touching storage', async (t) => {
  const { vault, dir } = makeVault(t)
  for (const bad of ['../../etc/passwd', 'ABCDEF00-0000-4000-8000-000000000000', '', `${randomUUID()}\u0000`]) {
    await t.rejects(vault.get(bad), TypeError)
    await t.rejects(vault.put(bad, makeBundle()), TypeError)
    await t.rejects(vault.delete(bad), TypeError)
  }
  const invalid = makeBundle({ expiryDate: undefined as unknown as number })
  const err = await rejection(vault.put(randomUUID(), invalid))
  t.type(err, TypeError)
  t.match((err as Error).message, /expiryDate/, 'names the field')
  t.notOk((err as Error).message.includes(invalid.refreshToken), 'not the content')
  await t.rejects(readdir(dir), { code: 'ENOENT' }, 'nothing was written')
})

test('I/O failures are VAULT_UNAVAILABLE without the path', async (t) => {
  const root = t.testdir({ 'not-a-dir': 'file' })
  const vault = new LocalTokenVault({ key: randomBytes(32), dir: path.join(root, 'not-a-dir', 'vault') })
  const err = await rejection(vault.put(randomUUID(), makeBundle()))
  t.equal((err as { code?: string }).code, ErrorCodes.VAULT_UNAVAILABLE)
  t.notOk(inspect(err, { depth: null }).includes(root))
})

test('concurrent writes leave one complete record and no temporary files', async (t) => {
  const { vault, dir } = makeVault(t)
  const userId = randomUUID()
  const bundles = Array.from({ length: 20 }, () => makeBundle())
  await Promise.all(bundles.map((b) => vault.put(userId, b)))
  t.equal((await filesIn(dir)).length, 1)
  const stored = await vault.get(userId)
  t.ok(bundles.some((b) => JSON.stringify(b) === JSON.stringify(stored)))
})

test('in-memory mode keeps encrypted records and writes no files', async (t) => {
  const cwd = t.testdir()
  const key = randomBytes(32)
  const vault = new LocalTokenVault({ key, dir: null })
  t.equal(vault.dir, null)
  const userId = randomUUID()
  const bundle = makeBundle()
  await vault.put(userId, bundle)
  t.same(await vault.get(userId), bundle)
  t.notOk(inspect(vault, { showHidden: true, depth: null }).includes(bundle.refreshToken), 'not even in memory')
  await vault.delete(userId)
  t.equal(await vault.get(userId), null)
  t.same(await readdir(cwd), [])
  t.throws(() => new LocalTokenVault({ key: randomBytes(16), dir: null }), TypeError, 'AES-256 needs 32 bytes')
})

test('the key is copied, so a caller zeroing its buffer changes nothing', async (t) => {
  const key = randomBytes(32)
  const vault = new LocalTokenVault({ key, dir: null })
  const userId = randomUUID()
  await vault.put(userId, makeBundle())
  key.fill(0)
  t.ok(await vault.get(userId))
})

test('loadOrCreateLocalVaultKey creates one private key and reuses it', async (t) => {
  const dataDir = path.join(t.testdir(), 'data')
  const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateLocalVaultKey(dataDir)))
  const first = keys[0] as Buffer
  t.equal(first.length, 32)
  t.ok(keys.every((k) => k.equals(first)), 'concurrent first starts agree on one key')
  t.ok((await loadOrCreateLocalVaultKey(dataDir)).equals(first), 'reused on the next start')

  const keyFile = path.join(dataDir, 'vault.key')
  t.equal((await stat(keyFile)).mode & 0o777, 0o600)
  t.ok(Buffer.from((await readFile(keyFile, 'utf8')).trim(), 'base64').equals(first), 'stored as base64')
  t.same((await readdir(dataDir)).sort(), ['vault.key'], 'no temporary files left')

  await writeFile(keyFile, randomBytes(16).toString('base64'))
  await t.rejects(loadOrCreateLocalVaultKey(dataDir), /must hold 32 bytes/)
})

test('createTokenVault builds the local vault under dataDir', async (t) => {
  const dataDir = t.testdir()
  const vault = await createTokenVault({ kind: 'local', dataDir })
  t.equal(vault.kind, 'local')
  const userId = randomUUID()
  const bundle = makeBundle()
  await vault.put(userId, bundle)
  t.same((await readdir(dataDir)).sort(), ['vault', 'vault.key'])
  t.equal((await readdir(path.join(dataDir, 'vault'))).length, 1)

  const again = await createTokenVault({ kind: 'local', dataDir })
  t.same(await again.get(userId), bundle, 'a restart reads what the last run stored')
  await vault.close()
  await again.close()

  await t.rejects(createTokenVault({ kind: 'local' }), TypeError, 'no silent in-memory vault')
  const memory = await createTokenVault({ kind: 'local', dataDir: null, localKey: randomBytes(32) })
  await memory.put(userId, bundle)
  t.same(await memory.get(userId), bundle)
})

test('stats count calls and failures', async (t) => {
  const { vault, dir } = makeVault(t)
  const userId = randomUUID()
  await vault.put(userId, makeBundle())
  await vault.get(userId)
  await vault.get(randomUUID())
  await new LocalTokenVault({ key: randomBytes(32), dir }).get(userId).catch(() => {})
  await vault.get('nope').catch(() => {})
  await vault.delete(userId)
  t.same(vault.stats(), { reads: 3, writes: 1, deletes: 1, errors: 1 })
})

// docs/security.md item 10 (keys from configuration, rotatable) for the local vault: LOCAL_VAULT_KEY and
// LOCAL_VAULT_PREVIOUS_KEYS.
test('key rotation: records name their key; old records stay readable and are resealed with the new key on their next write', async (t) => {
  const dir = path.join(t.testdir(), 'vault')
  const oldKey = randomBytes(32)
  const newKey = randomBytes(32)
  const alice = randomUUID()
  const bob = randomUUID()
  const before = new LocalTokenVault({ key: oldKey, dir })
  await before.put(alice, makeBundle({ email: 'alice@example.com' }))
  await before.put(bob, makeBundle({ email: 'bob@example.com' }))
  const kidOf = async (userId: string) => {
    const file = `${sha256Hex(secretName(DEFAULT_SECRET_PREFIX, userId))}.json`
    return (JSON.parse(await readFile(path.join(dir, file), 'utf8')) as { kid?: string }).kid
  }
  const oldKid = await kidOf(alice)
  t.match(oldKid, /^[0-9a-f]{16}$/)
  t.equal(await kidOf(bob), oldKid, 'one key, one id')

  const rotated = new LocalTokenVault({ key: newKey, previousKeys: [oldKey], dir })
  t.equal((await rotated.get(alice))?.email, 'alice@example.com', 'a record under the previous key reads')
  t.equal((await rotated.get(bob))?.email, 'bob@example.com')
  const fresh = makeBundle({ email: 'alice@example.com' })
  await rotated.put(alice, fresh)
  t.not(await kidOf(alice), oldKid, "Alice's record, written again, names the new key")
  t.equal(await kidOf(bob), oldKid, "Bob's record, only read, still names the old key")

  // Once the previous key is dropped, what was rewritten reads and what was not is refused.
  const onlyNew = new LocalTokenVault({ key: newKey, dir })
  t.same(await onlyNew.get(alice), fresh, 'rewritten with the new key on its next write')
  const err = await rejection(onlyNew.get(bob))
  t.equal((err as { code?: string }).code, ErrorCodes.VAULT_UNAVAILABLE, 'a record under a key no longer held is refused')
})

test('records written before key ids existed stay readable with the current key (or a previous one)', async (t) => {
  const { vault, dir, key } = makeVault(t)
  const userId = randomUUID()
  const bundle = makeBundle()
  await vault.put(userId, bundle)
  const file = path.join(dir, (await filesIn(dir))[0]!)
  const { kid: _kid, ...legacy } = JSON.parse(await readFile(file, 'utf8')) as Record<string, string>
  await writeFile(file, JSON.stringify(legacy))
  t.same(await new LocalTokenVault({ key, dir }).get(userId), bundle, 'legacy record, current key')
  t.same(await new LocalTokenVault({ key: randomBytes(32), previousKeys: [key], dir }).get(userId), bundle, 'legacy record, previous key')
  const err = await rejection(new LocalTokenVault({ key: randomBytes(32), dir }).get(userId))
  t.equal((err as { code?: string }).code, ErrorCodes.VAULT_UNAVAILABLE, 'and no other key opens it')
  t.throws(() => new LocalTokenVault({ key, previousKeys: [randomBytes(16)], dir }), TypeError, 'previous keys are AES-256 keys too')
})

test('the app reads LOCAL_VAULT_KEY and LOCAL_VAULT_PREVIOUS_KEYS from configuration', async (t) => {
  const { buildTestApp } = await import('../helper.ts')
  const oldKey = randomBytes(32)
  const newKey = randomBytes(32)
  const dataDir = t.testdir()
  const userId = randomUUID()
  const bundle = makeBundle()
  await new LocalTokenVault({ key: oldKey, dir: path.join(dataDir, 'vault') }).put(userId, bundle)
  const { app } = await buildTestApp(t, { env: { DATA_DIR: dataDir, LOCAL_VAULT_KEY: newKey.toString('hex'), LOCAL_VAULT_PREVIOUS_KEYS: oldKey.toString('base64') } })
  t.same(await app.vault.get(userId), bundle, 'read with the previous key from configuration')
  await app.vault.put(userId, bundle)
  t.same(await new LocalTokenVault({ key: newKey, dir: path.join(dataDir, 'vault') }).get(userId), bundle, 'rewritten with LOCAL_VAULT_KEY')
  t.same((await readdir(dataDir)).sort(), ['vault'], 'no vault.key file generated')
})

test('list: the users with a record, from sealed names; older records and copied files are counted, not named', async (t) => {
  const { vault, dir, key } = makeVault(t)
  t.same(await new LocalTokenVault({ key, dir: path.join(dir, 'absent') }).list(), { userIds: [], unidentified: 0 }, 'no directory yet: nothing')
  const [alice, bob, carol] = [randomUUID(), randomUUID(), randomUUID()]
  for (const id of [alice, bob, carol]) await vault.put(id, makeBundle())
  await vault.delete(carol)
  t.same(await vault.list(), { userIds: [alice, bob].sort(), unidentified: 0 })

  // A record written before records carried their name, and Bob's record copied onto another user's file name.
  const legacyUser = randomUUID()
  await vault.put(legacyUser, makeBundle())
  const legacyFile = path.join(dir, `${sha256Hex(secretName(DEFAULT_SECRET_PREFIX, legacyUser))}.json`)
  const { nm: _nm, ...legacy } = JSON.parse(await readFile(legacyFile, 'utf8')) as Record<string, string>
  await writeFile(legacyFile, JSON.stringify(legacy))
  await copyFile(path.join(dir, `${sha256Hex(secretName(DEFAULT_SECRET_PREFIX, bob))}.json`), path.join(dir, `${sha256Hex(secretName(DEFAULT_SECRET_PREFIX, carol))}.json`))
  await writeFile(path.join(dir, '.leftover.tmp'), 'x')
  t.same(await vault.list(), { userIds: [alice, bob].sort(), unidentified: 2 })
  t.same(await new LocalTokenVault({ key: randomBytes(32), previousKeys: [key], dir }).list(), { userIds: [alice, bob].sort(), unidentified: 2 }, 'names open with a previous key')
  await vault.put(legacyUser, makeBundle())
  t.same((await vault.list()).userIds, [alice, bob, legacyUser].sort(), 'an older record is named on its next write')

  const memory = new LocalTokenVault({ key, dir: null })
  await memory.put(alice, makeBundle())
  t.same(await memory.list(), { userIds: [alice], unidentified: 0 }, 'in memory too')
  t.same(await new LocalTokenVault({ key, dir, prefix: 'other/' }).list(), { userIds: [], unidentified: 0 }, 'another prefix sees none of these users (nor their copies)')
})
