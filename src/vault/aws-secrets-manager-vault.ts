import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  SecretsManagerClient
} from '@aws-sdk/client-secrets-manager'
import { Errors } from '../errors.ts'
import {
  DEFAULT_SECRET_PREFIX,
  parseGmailTokenBundle,
  READINESS_USER_ID,
  secretName,
  serializeGmailTokenBundle,
  userIdOfSecretName,
  VaultCounters,
  vaultUnavailable
} from './token-vault.ts'
import type { GmailTokenBundle, TokenVault, TokenVaultStats, VaultListing } from './token-vault.ts'

export interface SecretsManagerClientOptions {
  region?: string
  /** Total attempts per request, including the first (SDK standard retry: exponential backoff with jitter). */
  maxAttempts?: number
  /** Per attempt. A hung endpoint costs at most about maxAttempts × (connection + request timeout). */
  requestTimeoutMs?: number
  connectionTimeoutMs?: number
  /**
   * Explicit endpoint, for fault-injection tests only. Normally leave it unset: the SDK reads
   * AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL itself (that is how the tests reach moto).
   */
  endpoint?: string
}

export interface AwsSecretsManagerVaultOptions extends SecretsManagerClientOptions {
  /** Bring your own client (then the timeout and retry options above are ignored, and close() leaves it open). */
  client?: SecretsManagerClient
  prefix?: string
  /** Customer managed KMS key for new secrets; without it Secrets Manager uses aws/secretsmanager. */
  kmsKeyId?: string
  /** Tags for new secrets (never put user data here: tags are visible to anyone who can list secrets). */
  tags?: Record<string, string>
  /** ListSecrets page size (AWS allows 1–100). */
  listPageSize?: number
}

export const DEFAULT_MAX_ATTEMPTS = 3
export const DEFAULT_REQUEST_TIMEOUT_MS = 3000
export const DEFAULT_CONNECTION_TIMEOUT_MS = 1000

export function createSecretsManagerClient (options: SecretsManagerClientOptions = {}): SecretsManagerClient {
  return new SecretsManagerClient({
    ...(options.region !== undefined && { region: options.region }),
    ...(options.endpoint !== undefined && { endpoint: options.endpoint }),
    maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    // Standard rather than adaptive: adaptive's client-side rate limiter would, after one throttle, slow every
    // later call of this shared client; standard still backs off (500 ms base) on ThrottlingException.
    retryMode: 'standard',
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS,
      requestTimeout: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      // Without this the SDK only logs a warning when requestTimeout passes and keeps waiting on a hung endpoint.
      throwOnRequestTimeout: true
    }
  })
}

/** Internal: an SDK failure tagged with the operation that failed, until translate() turns it into an AppError. */
class OperationError extends Error {
  constructor (readonly operation: string, readonly original: unknown) {
    super(operation)
  }
}

/** The SDK error behind a failure, unwrapping the operation tag #send adds. */
const sdkError = (err: unknown): unknown => err instanceof OperationError ? err.original : err

const errorName = (err: unknown): string | undefined => {
  const e = sdkError(err)
  return typeof e === 'object' && e !== null && typeof (e as { name?: unknown }).name === 'string'
    ? (e as { name: string }).name
    : undefined
}

const isNotFound = (err: unknown) => errorName(err) === 'ResourceNotFoundException'
const isExists = (err: unknown) => errorName(err) === 'ResourceExistsException'

// A secret inside its recovery window answers InvalidRequestException. AWS words it "You can't perform this
// operation on the secret because it was marked for deletion." (Get/Put) and "You can't create this secret because
// a secret with this name is already scheduled for deletion." (Create); moto says "currently marked deleted".
// InvalidRequestException also covers rotation and service-managed secrets, hence the message check.
const isScheduledForDeletion = (err: unknown) =>
  errorName(err) === 'InvalidRequestException' &&
  /marked (for )?delet|scheduled for deletion/i.test(String((sdkError(err) as { message?: unknown }).message))

/**
 * What an AWS failure turns into before it leaves this module: name, a bounded message and request metadata.
 * SDK errors can carry the raw HTTP response (`$response`, and `$responseBodyText` on deserialization failures),
 * which for GetSecretValue is the secret itself; log serializers walk `cause`, so the original is not kept.
 */
export class SecretsManagerFailure extends Error {
  readonly httpStatusCode: number | undefined
  readonly requestId: string | undefined
  readonly attempts: number | undefined
  readonly errno: string | undefined

  constructor (operation: string, err: unknown) {
    const e = (typeof err === 'object' && err !== null ? err : {}) as {
      name?: unknown
      message?: unknown
      code?: unknown
      $metadata?: { httpStatusCode?: number, requestId?: string, attempts?: number }
    }
    const name = typeof e.name === 'string' ? e.name : 'Error'
    const message = typeof e.message === 'string' ? e.message.slice(0, 300) : String(err).slice(0, 300)
    super(`${operation} failed: ${name}: ${message}`)
    this.name = 'SecretsManagerFailure'
    this.httpStatusCode = e.$metadata?.httpStatusCode
    this.requestId = e.$metadata?.requestId
    this.attempts = e.$metadata?.attempts
    this.errno = typeof e.code === 'string' ? e.code : undefined
  }
}

export class AwsSecretsManagerVault implements TokenVault {
  readonly kind = 'aws' as const
  readonly #client: SecretsManagerClient
  readonly #ownsClient: boolean
  readonly #prefix: string
  readonly #kmsKeyId: string | undefined
  readonly #tags: Array<{ Key: string, Value: string }> | undefined
  readonly #listPageSize: number
  readonly #counters = new VaultCounters()

  constructor (options: AwsSecretsManagerVaultOptions = {}) {
    this.#ownsClient = options.client === undefined
    this.#client = options.client ?? createSecretsManagerClient(options)
    this.#prefix = options.prefix ?? DEFAULT_SECRET_PREFIX
    this.#kmsKeyId = options.kmsKeyId
    this.#tags = options.tags === undefined
      ? undefined
      : Object.entries(options.tags).map(([Key, Value]) => ({ Key, Value }))
    this.#listPageSize = options.listPageSize ?? 100
    secretName(this.#prefix, '00000000-0000-0000-0000-000000000000') // fail fast on a bad prefix
  }

  get (userId: string): Promise<GmailTokenBundle | null> {
    return this.#counters.count('reads', async () => {
      const name = secretName(this.#prefix, userId)
      let secretString: string | undefined
      try {
        const out = await this.#send('GetSecretValue', () =>
          this.#client.send(new GetSecretValueCommand({ SecretId: name })))
        secretString = out.SecretString
      } catch (err) {
        // Also "absent": a secret scheduled for deletion was deleted on purpose (by an operator or an older
        // version of this code); put() restores and overwrites it.
        if (isNotFound(err) || isScheduledForDeletion(err)) return null
        throw translate(err)
      }
      if (secretString === undefined) {
        throw vaultUnavailable(new Error('Secret has no SecretString'), Errors.vaultUnreadable)
      }
      return parseGmailTokenBundle(secretString)
    })
  }

  put (userId: string, bundle: GmailTokenBundle): Promise<void> {
    return this.#counters.count('writes', async () => {
      const name = secretName(this.#prefix, userId)
      const value = serializeGmailTokenBundle(bundle)
      try {
        await this.#putOrCreate(name, value)
      } catch (err) {
        throw translate(err)
      }
    })
  }

  delete (userId: string): Promise<void> {
    return this.#counters.count('deletes', async () => {
      const name = secretName(this.#prefix, userId)
      try {
        // No recovery window: a deleted-but-recoverable secret blocks CreateSecret and every read and write of
        // that name for 7–30 days, so reconnecting right after a disconnect would fail.
        // AWS (and moto) answer success for a name that does not exist; ResourceNotFound is handled anyway.
        await this.#send('DeleteSecret', () =>
          this.#client.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true })))
      } catch (err) {
        if (isNotFound(err)) return
        throw translate(err)
      }
    })
  }

  // ListSecrets needs its own IAM permission (secretsmanager:ListSecrets, which cannot be scoped to a name prefix):
  // only the operator's reconciliation calls it, so the server's role can go without. AWS's name filter is a
  // prefix match that ignores case, hence the exact check on each name. Secrets in their recovery window are
  // not listed (IncludePlannedDeletion defaults to false): they were deleted on purpose.
  list (): Promise<VaultListing> {
    return this.#counters.count('reads', async () => {
      const userIds: string[] = []
      let unidentified = 0
      let nextToken: string | undefined
      try {
        do {
          const page = await this.#send('ListSecrets', () => this.#client.send(new ListSecretsCommand({
            Filters: [{ Key: 'name', Values: [this.#prefix] }],
            MaxResults: this.#listPageSize,
            ...(nextToken !== undefined && { NextToken: nextToken })
          })))
          for (const secret of page.SecretList ?? []) {
            if (secret.Name === undefined || !secret.Name.startsWith(this.#prefix)) continue
            const userId = userIdOfSecretName(this.#prefix, secret.Name)
            if (userId === null) unidentified++
            else userIds.push(userId)
          }
          nextToken = page.NextToken
        } while (nextToken !== undefined && nextToken !== '')
      } catch (err) {
        throw translate(err)
      }
      return { userIds: [...new Set(userIds)].sort(), unidentified }
    })
  }

  stats (): TokenVaultStats {
    return this.#counters.snapshot()
  }

  // GetSecretValue of a name no user has: the one permission the vault needs anyway (a DescribeSecret or
  // ListSecrets probe would need IAM rights granted only for it), and it proves region, credentials, endpoint and
  // that permission at once. "Not found" is the healthy answer; an access denial is not.
  async checkReachable (): Promise<void> {
    try {
      await this.#send('GetSecretValue', () =>
        this.#client.send(new GetSecretValueCommand({ SecretId: secretName(this.#prefix, READINESS_USER_ID) })))
    } catch (err) {
      if (isNotFound(err) || isScheduledForDeletion(err)) return
      throw translate(err)
    }
  }

  /** Releases the HTTP agent's sockets when this vault built its own client. */
  async close (): Promise<void> {
    if (this.#ownsClient) this.#client.destroy()
  }

  // PutSecretValue first: after the first connect nearly every write is an update (token refreshes).
  // Every branch ends in another PutSecretValue so the last writer wins; the loop is bounded because a concurrent
  // delete can keep sending us back to the start.
  async #putOrCreate (name: string, value: string): Promise<void> {
    let lastError: unknown
    for (let round = 0; round < 3; round++) {
      try {
        await this.#send('PutSecretValue', () =>
          this.#client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value })))
        return
      } catch (err) {
        lastError = err
        if (isScheduledForDeletion(err)) {
          await this.#restore(name)
          continue
        }
        if (!isNotFound(err)) throw err
      }
      try {
        await this.#send('CreateSecret', () => this.#client.send(new CreateSecretCommand({
          Name: name,
          SecretString: value,
          Description: 'Gmail grant held by inboxgate',
          ...(this.#kmsKeyId !== undefined && { KmsKeyId: this.#kmsKeyId }),
          ...(this.#tags !== undefined && { Tags: this.#tags })
        })))
        return
      } catch (err) {
        lastError = err
        // Another request created it between our PutSecretValue and CreateSecret: overwrite it.
        if (isExists(err)) continue
        // Real AWS: the name belongs to a secret in its recovery window (moto says ResourceExists instead).
        if (isScheduledForDeletion(err)) {
          await this.#restore(name)
          continue
        }
        throw err
      }
    }
    throw lastError
  }

  async #restore (name: string): Promise<void> {
    try {
      await this.#send('RestoreSecret', () => this.#client.send(new RestoreSecretCommand({ SecretId: name })))
    } catch (err) {
      // Force-deleted meanwhile: the next round creates it.
      if (!isNotFound(err)) throw err
    }
  }

  // Tags a failure with the operation that failed, so translate() can name it without keeping the SDK error.
  async #send<T> (operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (err) {
      throw new OperationError(operation, err)
    }
  }
}

function translate (err: unknown) {
  if (err instanceof OperationError) return vaultUnavailable(new SecretsManagerFailure(err.operation, err.original))
  // Our own errors (validation of the record or the arguments) pass through untouched.
  return err
}
