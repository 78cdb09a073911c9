/*
 * The local vault (TOKEN_VAULT=local, the embedded default): one AES-256-GCM sealed file per user, written
 * atomically, with key rotation and a listing for reconcile-vault. A little over 350 lines on purpose: the file
 * format, its atomic writes and its recovery rules are one unit that only makes sense read together.
 */
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { access, chmod, link, mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises'
import path from 'node:path'
import { sha256Hex } from '../crypto/hashing.ts'
import { IV_BYTES, open as openSealed, openCompact, seal, sealCompact, TAG_BYTES } from '../crypto/sealing.ts'
import { AppError, Errors } from '../errors.ts'
import {
  DEFAULT_SECRET_PREFIX,
  parseGmailTokenBundle,
  secretName,
  serializeGmailTokenBundle,
  userIdOfSecretName,
  VaultCounters,
  vaultUnavailable
} from './token-vault.ts'
import type { GmailTokenBundle, TokenVault, TokenVaultStats, VaultListing } from './token-vault.ts'

export interface LocalTokenVaultOptions {
  /** 32 bytes (AES-256). Losing it loses every stored grant: users then reconnect Gmail. */
  key: Buffer
  /** Earlier keys (rotation): their records stay readable and are sealed with `key` on their next write. */
  previousKeys?: Buffer[]
  /** Directory holding one encrypted file per user; null keeps the encrypted records in memory (tests, benchmarks). */
  dir: string | null
  prefix?: string
}

/**
 * What is stored for each user: AES-256-GCM, every binary field base64url. `kid` names the key that sealed it;
 * records written before key ids existed have none and are read with the current key, then the previous ones.
 * `nm` is the secret name (`gmail/user/<id>`) sealed with the same key (IV ‖ tag ‖ ciphertext), so list() can tell
 * whose record a file is (file names are hashes) while user ids stay out of the files; older records lack it.
 */
interface LocalVaultRecord {
  v: 1
  alg: 'A256GCM'
  kid?: string
  nm?: string
  iv: string
  ct: string
  tag: string
}

const KEY_FILE = 'vault.key'
/** A record's file name (temporary files start with a dot). */
const RECORD_FILE = /^[0-9a-f]{64}\.json$/

export class LocalTokenVault implements TokenVault {
  readonly kind = 'local' as const
  readonly #key: Buffer
  readonly #kid: string
  /** Every key that may open a record, by key id, the current one first. */
  readonly #keys = new Map<string, Buffer>()
  readonly #dir: string | null
  readonly #prefix: string
  readonly #memory = new Map<string, string>()
  readonly #counters = new VaultCounters()
  #ready: Promise<void> | undefined

  constructor (options: LocalTokenVaultOptions) {
    if (!Buffer.isBuffer(options.key) || options.key.length !== 32) {
      throw new TypeError('LocalTokenVault: key must be a 32-byte Buffer')
    }
    // A private copy: the caller zeroing or reusing its buffer must not change our key.
    this.#key = Buffer.from(options.key)
    this.#kid = keyId(this.#key)
    this.#keys.set(this.#kid, this.#key)
    for (const previous of options.previousKeys ?? []) {
      if (!Buffer.isBuffer(previous) || previous.length !== 32) throw new TypeError('LocalTokenVault: previous keys must be 32-byte Buffers')
      if (!this.#keys.has(keyId(previous))) this.#keys.set(keyId(previous), Buffer.from(previous))
    }
    this.#dir = options.dir === null ? null : path.resolve(options.dir)
    this.#prefix = options.prefix ?? DEFAULT_SECRET_PREFIX
    secretName(this.#prefix, '00000000-0000-0000-0000-000000000000') // fail fast on a bad prefix
  }

  /** The directory in use, or null in memory mode. */
  get dir (): string | null {
    return this.#dir
  }

  get (userId: string): Promise<GmailTokenBundle | null> {
    return this.#counters.count('reads', async () => {
      const name = secretName(this.#prefix, userId)
      const stored = await this.#read(fileNameFor(name))
      if (stored === null) return null
      return parseGmailTokenBundle(this.#decrypt(name, stored))
    })
  }

  put (userId: string, bundle: GmailTokenBundle): Promise<void> {
    return this.#counters.count('writes', async () => {
      const name = secretName(this.#prefix, userId)
      const record = this.#encrypt(name, serializeGmailTokenBundle(bundle))
      await this.#write(fileNameFor(name), record)
    })
  }

  delete (userId: string): Promise<void> {
    return this.#counters.count('deletes', async () => {
      const name = secretName(this.#prefix, userId)
      await this.#remove(fileNameFor(name))
    })
  }

  // A record is attributed by the name it carries only if the file is that name's file: a record copied onto
  // another file name is not anybody's (and would fail authentication when read).
  list (): Promise<VaultListing> {
    return this.#counters.count('reads', async () => {
      const userIds: string[] = []
      let unidentified = 0
      for (const [file, content] of await this.#records()) {
        const name = this.#nameOf(content)
        if (name !== null && !name.startsWith(this.#prefix)) continue // another prefix's record
        const userId = name !== null && fileNameFor(name) === file ? userIdOfSecretName(this.#prefix, name) : null
        if (userId === null) unidentified++
        else userIds.push(userId)
      }
      return { userIds: userIds.sort(), unidentified }
    })
  }

  stats (): TokenVaultStats {
    return this.#counters.snapshot()
  }

  /** The secret name a record carries, or null (no name: written before names were kept; or not ours to open). */
  #nameOf (content: string): string | null {
    let record: Partial<LocalVaultRecord>
    try {
      record = JSON.parse(content) as Partial<LocalVaultRecord>
    } catch {
      return null
    }
    if (typeof record.nm !== 'string') return null
    const keyed = record.kid === undefined ? undefined : this.#keys.get(record.kid)
    for (const key of keyed === undefined ? this.#keys.values() : [keyed]) {
      try {
        return openCompact(key, record.nm)
      } catch {
        // Another key, or tampered: try the next one.
      }
    }
    return null
  }

  async #records (): Promise<Array<[string, string]>> {
    if (this.#dir === null) return [...this.#memory.entries()]
    let files: string[]
    try {
      files = (await readdir(this.#dir)).filter((f) => RECORD_FILE.test(f))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw fsFailure(err)
    }
    const records: Array<[string, string]> = []
    for (const file of files) {
      const content = await this.#read(file)
      if (content !== null) records.push([file, content]) // null: deleted since the readdir
    }
    return records
  }

  async close (): Promise<void> {}

  // The key is in memory since boot; what can break later is the directory (a volume unmounted, permissions).
  async checkReachable (): Promise<void> {
    if (this.#dir === null) return
    try {
      await this.#ensureDir(this.#dir)
      await access(this.#dir, constants.R_OK | constants.W_OK | constants.X_OK)
    } catch (err) {
      throw vaultUnavailable(err)
    }
  }

  // The secret name is the additional authenticated data: a record copied onto another user's file name fails
  // authentication instead of handing that user someone else's Gmail.
  #encrypt (name: string, plaintext: string): string {
    const { iv, tag, ct } = seal(this.#key, plaintext, name)
    const record: LocalVaultRecord = {
      v: 1,
      alg: 'A256GCM',
      kid: this.#kid,
      nm: sealCompact(this.#key, name),
      iv: iv.toString('base64url'),
      ct: ct.toString('base64url'),
      tag: tag.toString('base64url')
    }
    return JSON.stringify(record)
  }

  #decrypt (name: string, stored: string): string {
    let record: Partial<LocalVaultRecord>
    try {
      record = JSON.parse(stored) as Partial<LocalVaultRecord>
    } catch {
      throw vaultUnavailable(new Error('Local vault record is not JSON'), Errors.vaultUndecryptable)
    }
    if (record.v !== 1 || record.alg !== 'A256GCM' || typeof record.iv !== 'string' ||
      typeof record.ct !== 'string' || typeof record.tag !== 'string' || (record.kid !== undefined && typeof record.kid !== 'string')) {
      throw vaultUnavailable(new Error('Local vault record has an unknown format'), Errors.vaultUndecryptable)
    }
    const iv = Buffer.from(record.iv, 'base64url')
    const tag = Buffer.from(record.tag, 'base64url')
    // Node accepts shorter GCM tags unless told otherwise, which would make forgeries easier: insist on 16 bytes.
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
      throw vaultUnavailable(new Error('Local vault record has a bad IV or tag length'), Errors.vaultUndecryptable)
    }
    const sealed = { iv, tag, ct: Buffer.from(record.ct, 'base64url') }
    // A key id picks its key (a record sealed with a key we no longer hold fails like a wrong key); a record
    // without one predates key ids and tries each key, the current one first.
    const keyed = record.kid === undefined ? undefined : this.#keys.get(record.kid)
    const candidates = record.kid === undefined ? [...this.#keys.values()] : keyed === undefined ? [] : [keyed]
    for (const key of candidates) {
      try {
        return openSealed(key, sealed, name)
      } catch {
        // OpenSSL's message here is only "Unsupported state or unable to authenticate data"; nothing to keep.
      }
    }
    throw vaultUnavailable(new Error('Local vault record failed authentication'), Errors.vaultUndecryptable)
  }

  #ensureDir (dir: string): Promise<void> {
    this.#ready ??= (async () => {
      await mkdir(dir, { recursive: true, mode: 0o700 })
      // mkdir's mode is filtered by the umask and ignored for an existing directory.
      await chmod(dir, 0o700)
    })().catch((err: unknown) => {
      this.#ready = undefined // let a later call retry (a volume mounted late, say)
      throw err
    })
    return this.#ready
  }

  async #read (file: string): Promise<string | null> {
    if (this.#dir === null) return this.#memory.get(file) ?? null
    try {
      return await readFile(path.join(this.#dir, file), 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw fsFailure(err)
    }
  }

  // Write a temporary file, fsync it, then rename over the record: a crash leaves the old record or the new one,
  // never a torn file. The directory is fsynced too so the rename itself survives a power cut.
  async #write (file: string, content: string): Promise<void> {
    if (this.#dir === null) {
      this.#memory.set(file, content)
      return
    }
    const dir = this.#dir
    try {
      await this.#ensureDir(dir)
      const target = path.join(dir, file)
      const temp = path.join(dir, `.${file}.${randomBytes(6).toString('hex')}.tmp`)
      try {
        await writeDurably(temp, content)
        await rename(temp, target)
      } catch (err) {
        await unlink(temp).catch(() => {})
        throw err
      }
      await fsyncDir(dir)
    } catch (err) {
      throw fsFailure(err)
    }
  }

  async #remove (file: string): Promise<void> {
    if (this.#dir === null) {
      this.#memory.delete(file)
      return
    }
    try {
      await unlink(path.join(this.#dir, file))
      await fsyncDir(this.#dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw fsFailure(err)
    }
  }
}

/** Names a key without revealing it: a prefix of the SHA-256 of a domain-separated label and the key. */
function keyId (key: Buffer): string {
  return sha256Hex(`inboxgate-local-vault-key:${key.toString('base64')}`).slice(0, 16)
}

// Hashing the secret name keeps user ids out of directory listings and gives a fixed, path-safe file name.
function fileNameFor (name: string): string {
  return `${sha256Hex(name)}.json`
}

function fsFailure (err: unknown): AppError {
  if (err instanceof AppError) return err
  const e = err as NodeJS.ErrnoException
  // Keep the errno and syscall, not the path-bearing message.
  return vaultUnavailable(new Error(`Local vault I/O failed: ${e.code ?? 'unknown'} (${e.syscall ?? 'unknown'})`))
}

async function writeDurably (file: string, content: string | Buffer): Promise<void> {
  const handle = await open(file, 'wx', 0o600)
  try {
    await handle.writeFile(content)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

async function fsyncDir (dir: string): Promise<void> {
  let handle
  try {
    handle = await open(dir, 'r')
    await handle.sync()
  } catch {
    // Some platforms and filesystems cannot fsync a directory; the data itself is already synced.
  } finally {
    await handle?.close()
  }
}

/**
 * Reads `<dataDir>/vault.key` (base64, 32 bytes), creating it from the CSPRNG on first use (mode 0600).
 * Concurrent first starts agree on one key: the file appears complete or not at all (link() never overwrites).
 */
export async function loadOrCreateLocalVaultKey (dataDir: string): Promise<Buffer> {
  const keyPath = path.join(dataDir, KEY_FILE)
  const existing = await readKeyFile(keyPath)
  if (existing !== null) return existing

  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const key = randomBytes(32)
  const temp = `${keyPath}.${randomBytes(6).toString('hex')}.tmp`
  try {
    await writeDurably(temp, key.toString('base64') + '\n')
    await link(temp, keyPath)
    await fsyncDir(dataDir)
    return key
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    const theirs = await readKeyFile(keyPath)
    if (theirs === null) throw err
    return theirs
  } finally {
    await unlink(temp).catch(() => {})
  }
}

async function readKeyFile (keyPath: string): Promise<Buffer | null> {
  let text: string
  try {
    text = await readFile(keyPath, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  const key = Buffer.from(text.trim(), 'base64')
  // Refuse rather than guess: a truncated or hand-edited key would make every stored grant unreadable.
  if (key.length !== 32) throw new Error(`${keyPath} must hold 32 bytes as base64 (found ${key.length} bytes)`)
  return key
}
