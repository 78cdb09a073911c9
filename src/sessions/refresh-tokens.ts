import { hkdfSync } from 'node:crypto'
import { sha256Base64url } from '../crypto/hashing.ts'
import { openCompact, sealCompact } from '../crypto/sealing.ts'
import { randomToken, sameSecret } from '../crypto/secrets.ts'

/**
 * Refresh tokens are opaque: 256 bits from the CSPRNG (ASVS 7.2.3), with a recognisable prefix so secret
 * scanners can spot a leaked one. Only their SHA-256 is stored: with 256 bits of entropy a plain hash is
 * not brute-forceable, so a database dump cannot be replayed.
 */
const PREFIX = 'igrt_'

export function newRefreshToken (): string {
  return PREFIX + randomToken(32)
}

export function looksLikeRefreshToken (token: string): boolean {
  return token.length === PREFIX.length + 43 && token.startsWith(PREFIX) && /^[A-Za-z0-9_-]+$/.test(token.slice(PREFIX.length))
}

export function hashRefreshToken (token: string): string {
  return sha256Base64url(token)
}

export function sameHash (a: string, b: string | null | undefined): boolean {
  return sameSecret(a, b)
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
  return sealCompact(sealingKey(previousToken, sessionId), successor)
}

export function openSuccessor (sealed: string, previousToken: string, sessionId: string): string | null {
  try {
    return openCompact(sealingKey(previousToken, sessionId), sealed)
  } catch {
    return null
  }
}
