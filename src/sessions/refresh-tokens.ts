import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * Refresh tokens are opaque: 256 bits from the CSPRNG (ASVS 7.2.3), with a recognisable prefix so secret
 * scanners can spot a leaked one. Only their SHA-256 is stored: with 256 bits of entropy a plain hash is
 * not brute-forceable, so a database dump cannot be replayed.
 */
const PREFIX = 'igrt_'

export function newRefreshToken (): string {
  return PREFIX + randomBytes(32).toString('base64url')
}

export function looksLikeRefreshToken (token: string): boolean {
  return token.length === PREFIX.length + 43 && token.startsWith(PREFIX) && /^[A-Za-z0-9_-]+$/.test(token.slice(PREFIX.length))
}

export function hashRefreshToken (token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

export function sameHash (a: string, b: string | null | undefined): boolean {
  if (b == null || a.length !== b.length) return false
  return timingSafeEqual(Buffer.from(a), Buffer.from(b))
}

/*
 * When several tabs (or a phone retrying after a lost response) refresh with the same token at once, all
 * must receive the one successor. The server keeps only hashes, so the successor is stored sealed with a
 * key derived from the token it replaced: only a holder of that previous token can open it, and a database
 * dump alone reveals nothing replayable.
 */
function sealingKey (previousToken: string, sessionId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', previousToken, sessionId, 'inboxgate refresh successor v1', 32))
}

export function sealSuccessor (successor: string, previousToken: string, sessionId: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', sealingKey(previousToken, sessionId), iv)
  const ct = Buffer.concat([cipher.update(successor, 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url')
}

export function openSuccessor (sealed: string, previousToken: string, sessionId: string): string | null {
  try {
    const raw = Buffer.from(sealed, 'base64url')
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(previousToken, sessionId), raw.subarray(0, 12))
    decipher.setAuthTag(raw.subarray(12, 28))
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')
  } catch {
    return null
  }
}
