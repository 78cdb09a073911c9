import { randomBytes, timingSafeEqual } from 'node:crypto'
import { sha256 } from './hashing.ts'

/** `bytes` from the CSPRNG as base64url; 32 bytes (256 bits) by default, above ASVS 7.2.3's 128. */
export function randomToken (bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

/** Equal strings, compared in constant time for equal lengths (a length difference is not a secret here). */
export function sameSecret (a: string, b: string | null | undefined): boolean {
  if (b == null) return false
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** Equal strings, compared as SHA-256 digests: equal lengths for timingSafeEqual, and nothing about the length leaks. */
export function sameSecretHashed (a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b))
}
