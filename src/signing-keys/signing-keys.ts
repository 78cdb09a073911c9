import { createHash, generateKeyPairSync, hkdfSync } from 'node:crypto'
import type { Clock } from '../clock.ts'
import { openCompact, sealCompact } from '../crypto/sealing.ts'
import type { PrismaClient } from '../generated/prisma/client.ts'

/*
 * The asymmetric keys that sign access tokens, kept in the database so that every server process signs and
 * verifies with the same ones, and a rotation made by `npm run admin -- rotate-signing-key` reaches them all.
 *
 * ES256 rather than EdDSA: every JOSE library and gateway verifies P-256 (Ed25519 support is still patchy), and
 * on this machine fast-jwt verified ES256 faster (≈320 µs against ≈400 µs per uncached verification).
 *
 * Private keys are sealed with AES-256-GCM (src/crypto/sealing.ts, as the local vault seals its records) under a
 * key derived with HKDF from JWT_SECRET. That secret is the one every deployment already has, shares between its
 * processes, and must keep out of logs (PRODUCTION refuses to start without it); a separate variable would be one
 * more secret to distribute and rotate for no gain: whoever reads both the database and JWT_SECRET could, before
 * this change, mint tokens anyway. Rows record which JWT_SECRET sealed them, so moving the secret to
 * JWT_PREVIOUS_SECRETS keeps the keys readable; the next rotation reseals them under the current secret.
 */

export const SIGNING_ALG = 'ES256'
/** Every process re-reads the keys at least this often: a rotation made elsewhere is picked up within it. */
export const KEY_RELOAD_MS = 60_000

// A type alias, not an interface: it is stored as Prisma JSON and handed to createPublicKey, both want an index signature.
export type PublicJwk = { kty: 'EC', crv: 'P-256', x: string, y: string, kid: string, alg: typeof SIGNING_ALG, use: 'sig' }

export interface KeySnapshot {
  /** The key that signs, PKCS#8 PEM (only in memory). */
  current: { kid: string, privatePem: string }
  /** Every key that verifies now (the current one included), with the end of its verification (null: no end yet). */
  verifying: Array<{ kid: string, jwk: PublicJwk, until: Date | null }>
  /** Until when HS256 tokens signed with JWT_SECRET before the switch are accepted; null: never. */
  legacyHs256Until: Date | null
}

export interface SigningKeysOptions {
  prisma: PrismaClient
  clock: Clock
  /** JWT_SECRET and JWT_PREVIOUS_SECRETS by key id (config.jwtKeys): the sealing keys are derived from them. */
  secrets: { current: { kid: string, key: Buffer }, accepted: ReadonlyMap<string, Buffer> }
  accessTokenTtlSeconds: number
  clockSkewSeconds: number
}

interface KeyRow {
  kid: string
  publicJwk: unknown
  privateKeySealed: string
  sealedWith: string
  createdAt: Date
  retiredAt: Date | null
  verifyUntil: Date | null
  legacyHs256Until: Date | null
}

/** RFC 7638 thumbprint of a P-256 public key: its required members in lexicographic order, SHA-256, base64url. */
function thumbprint (jwk: { crv: string, kty: string, x: string, y: string }): string {
  return createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest('base64url')
}

export class SigningKeys {
  readonly #o: SigningKeysOptions

  constructor (options: SigningKeysOptions) {
    this.#o = options
  }

  /**
   * How long a retired key keeps verifying: the longest a token it signed can live (one access-token lifetime,
   * plus the clock skew verifiers allow) after the last process stopped signing with it — processes that have
   * not re-read the keys yet sign with it for up to KEY_RELOAD_MS more.
   */
  get retirementGraceMs (): number {
    return (this.#o.accessTokenTtlSeconds + this.#o.clockSkewSeconds) * 1000 + KEY_RELOAD_MS
  }

  #sealingKey (secretKid: string): Buffer {
    const secret = this.#o.secrets.accepted.get(secretKid)
    if (secret == null) throw new Error(`signing key sealed under JWT secret ${secretKid}, which is no longer configured (keep it in JWT_PREVIOUS_SECRETS)`)
    return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'inboxgate signing-key seal v1', 32))
  }

  #newKey (now: Date, legacyHs256Until: Date | null) {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const { kty, crv, x, y } = publicKey.export({ format: 'jwk' }) as { kty: 'EC', crv: 'P-256', x: string, y: string }
    const kid = thumbprint({ kty, crv, x, y })
    const publicJwk: PublicJwk = { kty, crv, x, y, kid, alg: SIGNING_ALG, use: 'sig' }
    const secretKid = this.#o.secrets.current.kid
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
    // The kid as associated data: a sealed private key copied onto another row does not open.
    const privateKeySealed = sealCompact(this.#sealingKey(secretKid), pem, kid)
    return { kid, alg: SIGNING_ALG, publicJwk, privateKeySealed, sealedWith: secretKid, createdAt: now, legacyHs256Until }
  }

  async #liveRows (now: Date): Promise<KeyRow[]> {
    return await this.#o.prisma.signingKey.findMany({
      where: { OR: [{ retiredAt: null }, { verifyUntil: { gt: now } }] },
      orderBy: [{ createdAt: 'desc' }, { kid: 'asc' }]
    })
  }

  /**
   * The keys as they stand, creating the first one on a deployment's first start. Two processes starting at once
   * may each create one: both then verify, and the newest signs everywhere from the next re-read on.
   */
  async load (): Promise<KeySnapshot> {
    const now = this.#o.clock.now()
    let rows = await this.#liveRows(now)
    if (!rows.some((r) => r.retiredAt == null)) {
      await this.#o.prisma.signingKey.create({ data: this.#newKey(now, await this.#legacyWindow(now)) })
      rows = await this.#liveRows(now)
    }
    return this.#snapshot(rows)
  }

  /**
   * An existing deployment switching from HS256 has live access tokens signed with JWT_SECRET: they keep working
   * for one access-token lifetime (clients then refresh, nobody is signed out). A new deployment has none, so it
   * never accepts HS256 at all; nor does any deployment once a key was created (the window is set once).
   */
  async #legacyWindow (now: Date): Promise<Date | null> {
    const ttlMs = this.#o.accessTokenTtlSeconds * 1000
    const [anyKeyEver, recentSessions] = await Promise.all([
      this.#o.prisma.signingKey.count(),
      this.#o.prisma.session.count({ where: { revokedAt: null, lastUsedAt: { gt: new Date(now.getTime() - ttlMs) } } })
    ])
    if (anyKeyEver > 0 || recentSessions === 0) return null
    return new Date(now.getTime() + ttlMs + this.#o.clockSkewSeconds * 1000)
  }

  #snapshot (rows: KeyRow[]): KeySnapshot {
    const signing = rows.find((r) => r.retiredAt == null)
    if (signing == null) throw new Error('no signing key')
    const legacy = rows.map((r) => r.legacyHs256Until).filter((d): d is Date => d != null).sort((a, b) => b.getTime() - a.getTime())[0]
    return {
      current: { kid: signing.kid, privatePem: openCompact(this.#sealingKey(signing.sealedWith), signing.privateKeySealed, signing.kid) },
      verifying: rows.map((r) => ({ kid: r.kid, jwk: r.publicJwk as PublicJwk, until: r.retiredAt == null ? null : r.verifyUntil })),
      legacyHs256Until: legacy ?? null
    }
  }

  /**
   * A new key signs from now on; the keys it replaces verify for `retirementGraceMs` more, then are retired (no
   * longer published nor accepted). Keys already past that are deleted, their private halves with them, and the
   * keys that remain are resealed under the current JWT_SECRET.
   */
  async rotate (): Promise<{ kid: string, retired: Array<{ kid: string, verifyUntil: Date }>, deleted: number }> {
    const now = this.#o.clock.now()
    const verifyUntil = new Date(now.getTime() + this.retirementGraceMs)
    const fresh = this.#newKey(now, null)
    const currentSecret = this.#o.secrets.current.kid
    return await this.#o.prisma.$transaction(async (tx) => {
      const active = await tx.signingKey.findMany({ where: { retiredAt: null }, select: { kid: true } })
      await tx.signingKey.updateMany({ where: { retiredAt: null }, data: { retiredAt: now, verifyUntil } })
      const { count: deleted } = await tx.signingKey.deleteMany({ where: { retiredAt: { not: null }, verifyUntil: { lte: now } } })
      for (const row of await tx.signingKey.findMany({ where: { sealedWith: { not: currentSecret } } })) {
        const pem = openCompact(this.#sealingKey(row.sealedWith), row.privateKeySealed, row.kid)
        await tx.signingKey.update({ where: { kid: row.kid }, data: { privateKeySealed: sealCompact(this.#sealingKey(currentSecret), pem, row.kid), sealedWith: currentSecret } })
      }
      await tx.signingKey.create({ data: fresh })
      return { kid: fresh.kid, retired: active.map((a) => ({ kid: a.kid, verifyUntil })), deleted }
    })
  }
}
