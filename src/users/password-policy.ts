import { createRequire } from 'node:module'
import { Errors } from '../errors.ts'

// Mozilla's list of ~10,000 most common passwords (the one Firefox Accounts refuses).
const commonPasswords = createRequire(import.meta.url)('fxa-common-password-list') as { test (p: string): boolean }

/** ASVS 6.2: at least 8 characters (configurable upwards), up to 128, no composition rules, no common passwords. */
export const PASSWORD_MAX_LENGTH = 128

export function assertAcceptablePassword (password: string, minLength: number, email?: string): void {
  const length = [...password].length
  if (length < minLength) throw Errors.passwordTooShort(minLength, { field: 'password' })
  if (length > PASSWORD_MAX_LENGTH) throw Errors.passwordTooLong(PASSWORD_MAX_LENGTH, { field: 'password' })
  const lower = password.toLowerCase()
  if (commonPasswords.test(password) || commonPasswords.test(lower) || (email != null && lower === email.toLowerCase())) {
    throw Errors.passwordTooCommon({ field: 'password' })
  }
}
