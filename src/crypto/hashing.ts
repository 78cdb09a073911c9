import { createHash } from 'node:crypto'

/*
 * SHA-256 in the encodings the stored values already use (changing one would orphan existing rows and files):
 * hex for OAuth state ids, vault file names and key ids, base64url for refresh-token hashes, raw for comparisons.
 */
export const sha256 = (value: string | Buffer): Buffer => createHash('sha256').update(value).digest()
export const sha256Hex = (value: string | Buffer): string => createHash('sha256').update(value).digest('hex')
export const sha256Base64url = (value: string | Buffer): string => createHash('sha256').update(value).digest('base64url')

/**
 * How Google's Cross-Account Protection (RISC) `token-revoked` events name a refresh token: its first 16 characters
 * (`prefix`), or base64(SHA-512(SHA-512(token))) (`hash_base64_sha512_sha512`). Neither lets a database dump
 * replay the token.
 */
export function googleTokenIdentifiers (token: string): { refreshTokenPrefix: string, refreshTokenHash: string } {
  const inner = createHash('sha512').update(token).digest()
  return { refreshTokenPrefix: token.slice(0, 16), refreshTokenHash: createHash('sha512').update(inner).digest('base64') }
}
