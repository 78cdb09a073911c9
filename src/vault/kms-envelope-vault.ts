/*
 * TOKEN_VAULT=kms: envelope encryption. Each user's bundle is sealed with AES-256-GCM under a data key from KMS
 * GenerateDataKey; the ciphertext and the wrapped data key live in the database (table vault_envelopes), the
 * master key never leaves KMS. Secrets Manager bills $0.40 per secret per month; here a grant costs a row and, at
 * steady state, at most one KMS request per refresh (docs/vault.md has the cost table).
 *
 * Hand-written rather than the AWS Encryption SDK (@aws-crypto/client-node): its caching materials manager caches
 * per encryption context, which here names one user, so it saves no more calls than the per-user cache below; its
 * message format would wrap the same three fields; and it would add a dependency tree for ~40 lines of sealing.
 */
import {
  DecryptCommand,
  DescribeKeyCommand,
  GenerateDataKeyCommand,
  KMSClient,
  ReEncryptCommand
} from '@aws-sdk/client-kms'
import { open, seal } from '../crypto/sealing.ts'
import { Errors } from '../errors.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { SecretsManagerClientOptions as AwsClientOptions } from './aws-secrets-manager-vault.ts'
import { DataKeyCache } from './data-key-cache.ts'
import type { DataKey } from './data-key-cache.ts'
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

/** KMS requests made by this vault, by operation (each is billed, $0.03 per 10,000), and data-key cache use. */
export interface KmsCallStats {
  generateDataKey: number
  decrypt: number
  reEncrypt: number
  describeKey: number
  /** KMS requests that failed (after the SDK's retries). */
  errors: number
  /** Seals and opens served by a cached plaintext data key: KMS requests saved. */
  cacheHits: number
}

export interface KmsEnvelopeVaultOptions extends AwsClientOptions {
  prisma: PrismaClient
  /** KMS_KEY_ID: key id, key ARN, alias/name or alias ARN. New data keys are wrapped by it. */
  keyId: string
  prefix?: string
  /** Bring your own client (then the timeout and retry options are ignored, and close() leaves it open). */
  client?: KMSClient
  dataKeyMaxAgeMs?: number
  dataKeyMaxUses?: number
  dataKeyCacheEntries?: number
}

export interface RewrapReport {
  /** Records looked at. */
  scanned: number
  /** Data keys re-wrapped under the current KMS key (ciphertexts untouched). */
  rewrapped: number
  alreadyCurrent: number
  /** Written by a server meanwhile (it wrapped a new data key itself): nothing to do. */
  changedMeanwhile: number
  failed: number
  kmsKeyArn: string
}

const PURPOSE = 'gmail-grant'
const KEY_ARN = /^arn:aws[a-z-]*:kms:[^:]+:\d+:key\/(.+)$/

export function createKmsClient (options: AwsClientOptions = {}): KMSClient {
  // The same bounded retries and timeouts as the Secrets Manager client (3 tries, 1 s to connect, 3 s per try;
  // see createSecretsManagerClient for why), repeated here so a KMS start never loads the Secrets Manager SDK.
  return new KMSClient({
    ...(options.region !== undefined && { region: options.region }),
    ...(options.endpoint !== undefined && { endpoint: options.endpoint }),
    maxAttempts: options.maxAttempts ?? 3,
    retryMode: 'standard',
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? 1000,
      requestTimeout: options.requestTimeoutMs ?? 3000,
      throwOnRequestTimeout: true
    }
  })
}

/**
 * A KMS failure as it may leave this module: name, bounded message, request metadata. The SDK error of a Decrypt
 * or GenerateDataKey can carry the raw HTTP response (`$response`), which holds a plaintext data key; log
 * serializers walk `cause`, so the original is never kept.
 */
export class KmsFailure extends Error {
  readonly httpStatusCode: number | undefined
  readonly requestId: string | undefined
  readonly kmsError: string

  constructor (operation: string, err: unknown) {
    const e = (typeof err === 'object' && err !== null ? err : {}) as { name?: unknown, message?: unknown, $metadata?: { httpStatusCode?: number, requestId?: string } }
    const name = typeof e.name === 'string' ? e.name : 'Error'
    const message = typeof e.message === 'string' ? e.message.slice(0, 300) : String(err).slice(0, 300)
    super(`KMS ${operation} failed: ${name}: ${message}`)
    this.name = 'KmsFailure'
    this.kmsError = name
    this.httpStatusCode = e.$metadata?.httpStatusCode
    this.requestId = e.$metadata?.requestId
  }
}

// KMS's answers for a wrapped key that does not open under this context (moved to another user, tampered) or key:
// the record is unreadable, not KMS unavailable; both still reach clients as VAULT_UNAVAILABLE.
const UNDECRYPTABLE = new Set(['InvalidCiphertextException', 'IncorrectKeyException'])

export class KmsEnvelopeVault implements TokenVault {
  readonly kind = 'kms' as const
  readonly #prisma: PrismaClient
  readonly #client: KMSClient
  readonly #ownsClient: boolean
  readonly #keyId: string
  readonly #prefix: string
  readonly #cache: DataKeyCache
  readonly #counters = new VaultCounters()
  readonly #kms: KmsCallStats = { generateDataKey: 0, decrypt: 0, reEncrypt: 0, describeKey: 0, errors: 0, cacheHits: 0 }
  /** The ARN KMS_KEY_ID resolves to, once known (from the id itself, GenerateDataKey's answer or DescribeKey). */
  #currentArn: string | undefined

  constructor (options: KmsEnvelopeVaultOptions) {
    this.#prisma = options.prisma
    this.#ownsClient = options.client === undefined
    this.#client = options.client ?? createKmsClient(options)
    this.#keyId = options.keyId
    this.#prefix = options.prefix ?? DEFAULT_SECRET_PREFIX
    if (KEY_ARN.test(this.#keyId)) this.#currentArn = this.#keyId
    this.#cache = new DataKeyCache({
      maxAgeMs: options.dataKeyMaxAgeMs ?? 300_000,
      maxUses: options.dataKeyMaxUses ?? 32,
      maxEntries: options.dataKeyCacheEntries ?? 10_000
    })
    secretName(this.#prefix, '00000000-0000-0000-0000-000000000000') // fail fast on a bad prefix
  }

  get (userId: string): Promise<GmailTokenBundle | null> {
    return this.#counters.count('reads', async () => {
      const name = secretName(this.#prefix, userId)
      const row = await this.#db().vaultEnvelope.findUnique({ where: { name } })
      if (row == null) return null
      const wrapped = Buffer.from(row.wrappedKey)
      const sealed = { iv: Buffer.from(row.iv), tag: Buffer.from(row.tag), ct: Buffer.from(row.ciphertext) }
      const openWith = (dataKey: DataKey): string => {
        try {
          return open(dataKey.key, sealed, name)
        } catch {
          throw vaultUnavailable(new Error('KMS vault record failed authentication'), Errors.vaultUndecryptable)
        }
      }
      const cached = this.#cache.use(name, wrapped, () => true, openWith)
      if (cached != null) {
        this.#kms.cacheHits++
        return parseGmailTokenBundle(cached.value)
      }
      const out = await this.#call('decrypt', () => this.#client.send(new DecryptCommand({ CiphertextBlob: wrapped, EncryptionContext: context(userId) })))
      const dataKey = takeDataKey(out.Plaintext, wrapped, out.KeyId ?? row.kmsKeyArn)
      return parseGmailTokenBundle(this.#cache.adopt(name, dataKey, openWith))
    })
  }

  put (userId: string, bundle: GmailTokenBundle): Promise<void> {
    return this.#counters.count('writes', async () => {
      const name = secretName(this.#prefix, userId)
      const plaintext = serializeGmailTokenBundle(bundle)
      const sealWith = (dataKey: DataKey) => ({ ...seal(dataKey.key, plaintext, name), wrapped: Buffer.from(dataKey.wrapped), kmsKeyArn: dataKey.kmsKeyArn })
      // The data key the last read or write of this user used, if the current KMS key wrapped it: a refresh (read,
      // then write) costs one Decrypt at most, and a write right after a connect none.
      let sealed = this.#cache.use(name, null, (arn) => this.#isCurrentKey(arn), sealWith)?.value
      if (sealed != null) {
        this.#kms.cacheHits++
      } else {
        const out = await this.#call('generateDataKey', () => this.#client.send(new GenerateDataKeyCommand({ KeyId: this.#keyId, KeySpec: 'AES_256', EncryptionContext: context(userId) })))
        if (out.CiphertextBlob == null || out.KeyId == null) throw vaultUnavailable(new Error('KMS GenerateDataKey answered without a wrapped key'))
        this.#currentArn = out.KeyId
        sealed = this.#cache.adopt(name, takeDataKey(out.Plaintext, Buffer.from(out.CiphertextBlob), out.KeyId), sealWith)
      }
      const data = { kmsKeyArn: sealed.kmsKeyArn, wrappedKey: toBytes(sealed.wrapped), iv: toBytes(sealed.iv), ciphertext: toBytes(sealed.ct), tag: toBytes(sealed.tag) }
      await this.#db().vaultEnvelope.upsert({ where: { name }, create: { name, ...data }, update: data })
    })
  }

  delete (userId: string): Promise<void> {
    return this.#counters.count('deletes', async () => {
      const name = secretName(this.#prefix, userId)
      this.#cache.drop(name)
      await this.#db().vaultEnvelope.deleteMany({ where: { name } })
    })
  }

  list (): Promise<VaultListing> {
    return this.#counters.count('reads', async () => {
      const rows = await this.#db().vaultEnvelope.findMany({ where: { name: { startsWith: this.#prefix } }, select: { name: true } })
      const userIds: string[] = []
      let unidentified = 0
      for (const { name } of rows) {
        const userId = userIdOfSecretName(this.#prefix, name)
        if (userId === null) unidentified++
        else userIds.push(userId)
      }
      return { userIds: userIds.sort(), unidentified }
    })
  }

  stats (): TokenVaultStats {
    return this.#counters.snapshot()
  }

  /** KMS requests by operation since start (what the bill counts), and the data-key cache's hits. */
  kmsStats (): KmsCallStats {
    return { ...this.#kms }
  }

  /** Plaintext data keys held in memory right now. */
  get cachedDataKeys (): number {
    return this.#cache.size
  }

  /** Readiness: the table answers, and KMS knows the key and has it enabled. */
  async checkReachable (): Promise<void> {
    try {
      await this.#db().vaultEnvelope.findFirst({ select: { name: true } })
    } catch (err) {
      throw vaultUnavailable(new Error(`KMS vault table unreachable: ${(err as Error).name}`))
    }
    await this.checkKms()
  }

  /**
   * DescribeKey of KMS_KEY_ID: proves region, credentials, endpoint, the key and kms:DescribeKey at once, and
   * learns the key's ARN (to tell data keys wrapped by an earlier key after a rotation). A disabled or
   * pending-deletion key is unavailable: GenerateDataKey would fail.
   */
  async checkKms (): Promise<void> {
    const out = await this.#call('describeKey', () => this.#client.send(new DescribeKeyCommand({ KeyId: this.#keyId })))
    const state = out.KeyMetadata?.KeyState
    if (out.KeyMetadata?.Arn != null) this.#currentArn = out.KeyMetadata.Arn
    if (state !== 'Enabled') throw vaultUnavailable(new KmsFailure('DescribeKey', { name: 'KeyNotEnabled', message: `the key is ${state ?? 'in an unknown state'}` }))
  }

  /**
   * `npm run admin -- rewrap-vault`: after KMS_KEY_ID was pointed at a new key, re-wraps every data key still
   * wrapped by another one with ReEncrypt (KMS decrypts and re-encrypts inside; neither this process nor the
   * database sees the data key), leaving the ciphertexts and tokens untouched. Each row is replaced only if its
   * wrapped key is still the one re-wrapped (a server may write a fresh one meanwhile). Idempotent and resumable.
   */
  async rewrapAll (onProgress: (done: number, total: number) => void = () => {}): Promise<RewrapReport> {
    await this.checkKms()
    const current = this.#currentArn
    if (current == null) throw vaultUnavailable(new Error('KMS DescribeKey gave no key ARN'))
    const rows = await this.#prisma.vaultEnvelope.findMany({ where: { name: { startsWith: this.#prefix } }, select: { name: true, kmsKeyArn: true, wrappedKey: true }, orderBy: { name: 'asc' } })
    const report: RewrapReport = { scanned: 0, rewrapped: 0, alreadyCurrent: 0, changedMeanwhile: 0, failed: 0, kmsKeyArn: current }
    for (const row of rows) {
      report.scanned++
      const userId = userIdOfSecretName(this.#prefix, row.name)
      if (row.kmsKeyArn === current) report.alreadyCurrent++
      else if (userId == null) report.failed++
      else {
        try {
          const out = await this.#call('reEncrypt', () => this.#client.send(new ReEncryptCommand({
            CiphertextBlob: row.wrappedKey,
            SourceEncryptionContext: context(userId),
            DestinationKeyId: current,
            DestinationEncryptionContext: context(userId)
          })))
          if (out.CiphertextBlob == null) throw new Error('ReEncrypt answered without a wrapped key')
          const updated = await this.#prisma.vaultEnvelope.updateMany({
            where: { name: row.name, wrappedKey: { equals: row.wrappedKey } },
            data: { wrappedKey: toBytes(Buffer.from(out.CiphertextBlob)), kmsKeyArn: out.KeyId ?? current }
          })
          if (updated.count === 1) report.rewrapped++
          else report.changedMeanwhile++
        } catch {
          report.failed++ // left as it was: it still opens under its old key, and the next run retries it
        }
      }
      onProgress(report.scanned, rows.length)
    }
    return report
  }

  async close (): Promise<void> {
    this.#cache.close()
    if (this.#ownsClient) this.#client.destroy()
  }

  // The grant lock is a lease that holds no connection or transaction (src/gmail/grant-lock.ts): vault rows are
  // written through the pool, like the other vaults' calls, never inside a caller's transaction.
  #db () {
    return this.#prisma
  }

  #isCurrentKey (arn: string): boolean {
    if (this.#currentArn !== undefined) return arn === this.#currentArn
    // A bare key id names the key inside its ARN; an alias needs DescribeKey (readiness or the next GenerateDataKey).
    return KEY_ARN.exec(arn)?.[1] === this.#keyId
  }

  async #call<T> (operation: Exclude<keyof KmsCallStats, 'errors' | 'cacheHits'>, send: () => Promise<T>): Promise<T> {
    this.#kms[operation]++
    try {
      return await send()
    } catch (err) {
      this.#kms.errors++
      const failure = new KmsFailure(operation, err)
      throw vaultUnavailable(failure, UNDECRYPTABLE.has(failure.kmsError) ? Errors.vaultUndecryptable : Errors.vaultUnavailable)
    }
  }
}

/** KMS binds each wrapped data key to this context: a record moved to another user's name does not decrypt. */
function context (userId: string): Record<string, string> {
  return { purpose: PURPOSE, userId }
}

// The SDK hands the plaintext key out as a Uint8Array of its own: copied into a Buffer we control, the original zeroed.
function takeDataKey (plaintext: Uint8Array | undefined, wrapped: Buffer, kmsKeyArn: string): DataKey {
  if (plaintext?.length !== 32) {
    plaintext?.fill(0)
    throw vaultUnavailable(new Error('KMS answered without a 256-bit data key'))
  }
  const key = Buffer.from(plaintext)
  plaintext.fill(0)
  return { key, wrapped, kmsKeyArn }
}

// Prisma's Bytes fields take a Uint8Array backed by its own ArrayBuffer.
function toBytes (b: Buffer): Uint8Array<ArrayBuffer> {
  return new Uint8Array(b)
}
