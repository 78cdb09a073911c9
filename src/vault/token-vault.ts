import { isCanonicalUuid } from '../db/uuid.ts'
import { Errors } from '../errors.ts'
import type { AppError } from '../errors.ts'

/**
 * A user's Gmail grant. It lives only in the vault: never in the database, logs, errors or responses.
 */
export interface GmailTokenBundle {
  version: 1
  accessToken: string
  refreshToken: string
  /** ms since epoch, always set: without it google-auth-library refreshes on every Gmail 401/403. */
  expiryDate: number
  /** Granted scopes, expanded URLs. */
  scope: string[]
  /** The OAuth client that minted the refresh token: refresh with it (public iOS clients have no secret). */
  clientId: string
  googleSub: string
  email: string
  /** ms since epoch */
  obtainedAt: number
}

export interface TokenVaultStats {
  reads: number
  writes: number
  deletes: number
  errors: number
}

export interface VaultListing {
  userIds: string[]
  unidentified: number
}

export interface TokenVault {
  readonly kind: 'aws' | 'local' | 'kms'
  /** The user's bundle, or null when there is none. */
  get (userId: string): Promise<GmailTokenBundle | null>
  /** Create or overwrite. */
  put (userId: string, bundle: GmailTokenBundle): Promise<void>
  /** Idempotent and immediate (no recovery window), so a reconnect right after works. */
  delete (userId: string): Promise<void>
  /**
   * Every user holding a secret under this vault's prefix (`gmail/user/`), for reconciliation with the database
   * (`npm run admin -- reconcile-vault`). `unidentified` counts records under the prefix that name no user: a name
   * that is not a user id (AWS), or a local record written before records carried their name. Counted as one read.
   */
  list (): Promise<VaultListing>
  /** One count per call (not per backend request); `errors` counts calls that rejected. */
  stats (): TokenVaultStats
  /**
   * Readiness (GET /health/ready): rejects with VAULT_UNAVAILABLE when the backend cannot be used right now.
   * Touches no user's record and is not counted in stats().
   */
  checkReachable (): Promise<void>
  /** KMS vaults only (also when KMS is the vault being migrated from): readiness names KMS as a check of its own. */
  checkKms?: () => Promise<void>
}

/** A name no user has (the nil UUID): readiness reads it and expects "not found". */
export const READINESS_USER_ID = '00000000-0000-0000-0000-000000000000'

export const DEFAULT_SECRET_PREFIX = 'gmail/user/'

/** The one message clients see for any vault failure: it carries nothing from the backend. */
export const VAULT_UNAVAILABLE_MESSAGE = Errors.vaultUnavailable.message

// Secrets Manager allows letters, digits and /_+=.@- in names; a prefix outside that set is a config mistake.
const PREFIX = /^[A-Za-z0-9/_+=.@-]{0,200}$/

export function assertUserId (userId: unknown): asserts userId is string {
  // Canonical lowercase only: PostgreSQL returns uuids lowercase, and accepting other spellings would give one user
  // two secret names.
  if (!isCanonicalUuid(userId)) {
    // The value is not echoed: it is whatever a caller passed and could be anything.
    throw new TypeError('Token vault: userId must be a lowercase UUID')
  }
}

/** The user id a secret name stands for, or null when it is not `<prefix><lowercase uuid>`. */
export function userIdOfSecretName (prefix: string, name: string): string | null {
  if (!name.startsWith(prefix)) return null
  const id = name.slice(prefix.length)
  return isCanonicalUuid(id) ? id : null
}

export function secretName (prefix: string = DEFAULT_SECRET_PREFIX, userId: string): string {
  if (!PREFIX.test(prefix)) throw new TypeError('Token vault: invalid secret name prefix')
  assertUserId(userId)
  return `${prefix}${userId}`
}

/** VAULT_UNAVAILABLE (retry later), worded by `error` for a record that would not open or parse. */
export function vaultUnavailable (cause?: unknown, error: typeof Errors.vaultUnavailable = Errors.vaultUnavailable): AppError {
  return error({}, { cause })
}

const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0
const isTimestamp = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/** The name of the first invalid field, or null. Never looks further than types, so nothing is echoed. */
export function invalidBundleField (value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return '(root)'
  const b = value as Record<string, unknown>
  if (b.version !== 1) return 'version'
  if (!isNonEmptyString(b.accessToken)) return 'accessToken'
  if (!isNonEmptyString(b.refreshToken)) return 'refreshToken'
  if (!isTimestamp(b.expiryDate)) return 'expiryDate'
  if (!Array.isArray(b.scope) || !b.scope.every(isNonEmptyString)) return 'scope'
  if (!isNonEmptyString(b.clientId)) return 'clientId'
  if (!isNonEmptyString(b.googleSub)) return 'googleSub'
  if (typeof b.email !== 'string') return 'email'
  if (!isTimestamp(b.obtainedAt)) return 'obtainedAt'
  return null
}

/**
 * Validates a bundle read back from storage. Garbage becomes a VAULT_UNAVAILABLE error naming at most the field,
 * never the content, and the result is a fresh object holding only the known fields.
 */
export function validateGmailTokenBundle (value: unknown): GmailTokenBundle {
  const field = invalidBundleField(value)
  if (field !== null) {
    throw vaultUnavailable(new Error(`Token vault record failed validation at ${field}`), Errors.vaultUnreadable)
  }
  return pickBundle(value as GmailTokenBundle)
}

/** JSON text from storage → bundle. JSON.parse's own message quotes the input, so it is not kept as the cause. */
export function parseGmailTokenBundle (text: string): GmailTokenBundle {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw vaultUnavailable(new Error('Token vault record is not JSON'), Errors.vaultUnreadable)
  }
  return validateGmailTokenBundle(parsed)
}

/** Bundle → JSON text for storage; refuses to store an invalid bundle (a bug upstream, not a vault outage). */
export function serializeGmailTokenBundle (bundle: GmailTokenBundle): string {
  const field = invalidBundleField(bundle)
  if (field !== null) throw new TypeError(`Token vault: refusing to store an invalid bundle (${field})`)
  return JSON.stringify(pickBundle(bundle))
}

// Only the known fields are stored or returned, so an extra property (a whole Credentials object, say) never lands
// in the vault by accident.
function pickBundle (b: GmailTokenBundle): GmailTokenBundle {
  return {
    version: 1,
    accessToken: b.accessToken,
    refreshToken: b.refreshToken,
    expiryDate: b.expiryDate,
    scope: [...b.scope],
    clientId: b.clientId,
    googleSub: b.googleSub,
    email: b.email,
    obtainedAt: b.obtainedAt
  }
}

/** Shared bookkeeping for the implementations' `stats()`. */
export class VaultCounters {
  readonly #s: TokenVaultStats = { reads: 0, writes: 0, deletes: 0, errors: 0 }

  async count<T> (kind: 'reads' | 'writes' | 'deletes', op: () => Promise<T>): Promise<T> {
    this.#s[kind]++
    try {
      return await op()
    } catch (err) {
      this.#s.errors++
      throw err
    }
  }

  snapshot (): TokenVaultStats {
    return { ...this.#s }
  }
}
