import type { Clock } from '../clock.ts'
import { sha256Base64url } from '../crypto/hashing.ts'
import { randomToken, sameSecret } from '../crypto/secrets.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'

export interface ServiceClient {
  clientId: string
  name: string
  /** May name a user by id (subject_token_type user-id), for users who authorized it. */
  worker: boolean
  /** Acts for every user without a per-user authorization (admin --all-users). */
  allUsers: boolean
  createdAt: Date
  revokedAt: Date | null
}

/** Prefixes make a leaked secret recognisable to secret scanners and to people reading a config file. */
const CLIENT_ID_PREFIX = 'igc_'
const SECRET_PREFIX = 'igs_'
const NAME = /^[\p{L}\p{N} ._-]{1,64}$/u

/**
 * The backends allowed to exchange tokens at POST /oauth/token.
 *
 * Why SHA-256 and not a slow hash (argon2) or an HMAC: the secret is 256 bits from the CSPRNG, never chosen by
 * a person. A slow hash only helps against guessing low-entropy secrets; guessing 2^256 values is out of reach
 * at any hash speed, so a database dump cannot be turned into a working secret either way. A slow hash would cost
 * ~20 MiB and tens of ms per exchange (the hot path: a worker may ask for tokens many times a second), and an HMAC
 * key would add a secret to keep and rotate (tying it to JWT_SECRET would break every client at a key rotation)
 * for no gain over 256 bits of entropy. Refresh tokens are stored the same way (docs/security.md item 4).
 */
export class ServiceClients {
  readonly #prisma: PrismaClient
  readonly #clock: Clock
  /** What an unknown client id is compared against, so that it costs the same as a wrong secret. */
  readonly #decoy = sha256Base64url(randomToken())

  constructor (deps: { prisma: PrismaClient, clock: Clock }) {
    this.#prisma = deps.prisma
    this.#clock = deps.clock
  }

  /** The secret is returned here once and never stored: only its hash is. */
  async create (name: string, worker: boolean, allUsers = false): Promise<{ clientId: string, clientSecret: string }> {
    if (!NAME.test(name)) throw new RangeError('a client name is 1–64 letters, digits, spaces, dots, dashes or underscores')
    const clientId = CLIENT_ID_PREFIX + randomToken(16)
    const clientSecret = SECRET_PREFIX + randomToken(32)
    await this.#prisma.serviceClient.create({
      data: { id: clientId, name, worker, allUsers, secretHash: sha256Base64url(clientSecret), createdAt: this.#clock.now() }
    })
    return { clientId, clientSecret }
  }

  /** A live (not revoked) client by id, or null: what a user may authorize or get a service token for. */
  async findLive (clientId: string): Promise<ServiceClient | null> {
    const row = clientId.length <= 64 && !clientId.includes('\0') ? await this.#prisma.serviceClient.findUnique({ where: { id: clientId } }) : null
    if (row == null || row.revokedAt != null) return null
    return { clientId: row.id, name: row.name, worker: row.worker, allUsers: row.allUsers, createdAt: row.createdAt, revokedAt: row.revokedAt }
  }

  async list (): Promise<ServiceClient[]> {
    const rows = await this.#prisma.serviceClient.findMany({ orderBy: { createdAt: 'asc' } })
    return rows.map((r) => ({ clientId: r.id, name: r.name, worker: r.worker, allUsers: r.allUsers, createdAt: r.createdAt, revokedAt: r.revokedAt }))
  }

  /** Takes effect on the next request (nothing is cached). False when there is no such client. */
  async revoke (clientId: string): Promise<ServiceClient | null> {
    const row = await this.#prisma.serviceClient.findUnique({ where: { id: clientId } })
    if (row == null) return null
    const updated = row.revokedAt != null ? row : await this.#prisma.serviceClient.update({ where: { id: clientId }, data: { revokedAt: this.#clock.now() } })
    return { clientId: updated.id, name: updated.name, worker: updated.worker, allUsers: updated.allUsers, createdAt: updated.createdAt, revokedAt: updated.revokedAt }
  }

  /** The live client these credentials belong to, or null (unknown, wrong secret or revoked: all the same). */
  async authenticate (clientId: string, clientSecret: string): Promise<ServiceClient | null> {
    // A NUL byte cannot be stored in PostgreSQL text: the driver would throw (a 500) instead of a plain no-match.
    const row = clientId.length <= 64 && !clientId.includes('\0') ? await this.#prisma.serviceClient.findUnique({ where: { id: clientId } }) : null
    // Always one hash and one constant-time comparison, whether or not the client exists.
    const matches = sameSecret(sha256Base64url(clientSecret), row?.secretHash ?? this.#decoy)
    if (row == null || !matches || row.revokedAt != null) return null
    return { clientId: row.id, name: row.name, worker: row.worker, allUsers: row.allUsers, createdAt: row.createdAt, revokedAt: row.revokedAt }
  }
}
