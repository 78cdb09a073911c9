import { createHash } from 'node:crypto'

/*
 * SHA-256 in the encodings the stored values already use (changing one would orphan existing rows and files):
 * hex for OAuth state ids, vault file names and key ids, base64url for refresh-token hashes, raw for comparisons.
 */
export const sha256 = (value: string | Buffer): Buffer => createHash('sha256').update(value).digest()
export const sha256Hex = (value: string | Buffer): string => createHash('sha256').update(value).digest('hex')
export const sha256Base64url = (value: string | Buffer): string => createHash('sha256').update(value).digest('base64url')
