import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/*
 * AES-256-GCM, the one authenticated cipher here (the local token vault, sealed refresh-token successors).
 * A random 96-bit IV per seal (the GCM standard size) is safe far beyond our write counts. Node accepts shorter
 * GCM tags unless told otherwise, which would make forgeries easier: opening insists on 16 bytes.
 */
export const IV_BYTES = 12
export const TAG_BYTES = 16

export interface Sealed { iv: Buffer, tag: Buffer, ct: Buffer }

/** `aad` is authenticated, not encrypted: a sealed value moved to another context (user, session) fails to open. */
export function seal (key: Buffer, plaintext: string, aad?: string): Sealed {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
  if (aad != null) cipher.setAAD(Buffer.from(aad, 'utf8'))
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return { iv, tag: cipher.getAuthTag(), ct }
}

/** The plaintext, or a throw (wrong key, tampered, wrong `aad`, bad IV or tag length). */
export function open (key: Buffer, sealed: Sealed, aad?: string): string {
  if (sealed.iv.length !== IV_BYTES || sealed.tag.length !== TAG_BYTES) throw new Error('bad IV or tag length')
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv, { authTagLength: TAG_BYTES })
  if (aad != null) decipher.setAAD(Buffer.from(aad, 'utf8'))
  decipher.setAuthTag(sealed.tag)
  return Buffer.concat([decipher.update(sealed.ct), decipher.final()]).toString('utf8')
}

/** One string: IV ‖ tag ‖ ciphertext, base64url (the format of sealed refresh-token successors and signing keys). */
export function sealCompact (key: Buffer, plaintext: string, aad?: string): string {
  const { iv, tag, ct } = seal(key, plaintext, aad)
  return Buffer.concat([iv, tag, ct]).toString('base64url')
}

export function openCompact (key: Buffer, sealed: string, aad?: string): string {
  const raw = Buffer.from(sealed, 'base64url')
  return open(key, { iv: raw.subarray(0, IV_BYTES), tag: raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES), ct: raw.subarray(IV_BYTES + TAG_BYTES) }, aad)
}
