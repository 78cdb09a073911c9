import { createRequire } from 'node:module'
import { badUserInput } from '../errors.ts'

// Mozilla's list of ~10,000 most common passwords (the one Firefox Accounts refuses).
const commonPasswords = createRequire(import.meta.url)('fxa-common-password-list') as { test (p: string): boolean }

/** ASVS 6.2: at least 8 characters (configurable upwards), up to 128, no composition rules, no common passwords. */
export const PASSWORD_MAX_LENGTH = 128

export function assertAcceptablePassword (password: string, minLength: number, email?: string): void {
  const length = [...password].length
  if (length < minLength) throw badUserInput(`Password must be at least ${minLength} characters`, { field: 'password' })
  if (length > PASSWORD_MAX_LENGTH) throw badUserInput(`Password must be at most ${PASSWORD_MAX_LENGTH} characters`, { field: 'password' })
  const lower = password.toLowerCase()
  if (commonPasswords.test(password) || commonPasswords.test(lower) || (email != null && lower === email.toLowerCase())) {
    throw badUserInput('This password is too common; choose another', { field: 'password' })
  }
}
