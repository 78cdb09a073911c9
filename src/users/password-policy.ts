import { createRequire } from 'node:module'
import { Errors } from '../errors.ts'

interface PasswordList { test (p: string): boolean }
// Mozilla's list of ~10,000 most common passwords (the one Firefox Accounts refuses). Loaded at the first password
// checked, not at start: building it costs ≈0.1 s CPU that a start-up (and a Google-only deployment) need not pay.
let commonPasswords: PasswordList | undefined
const passwordList = (): PasswordList => (commonPasswords ??= createRequire(import.meta.url)('fxa-common-password-list') as PasswordList)

/** ASVS 6.2: at least 8 characters (configurable upwards), up to 128, no composition rules, no common passwords. */
export const PASSWORD_MAX_LENGTH = 128

export function assertAcceptablePassword (password: string, minLength: number, email?: string): void {
  const length = [...password].length
  if (length < minLength) throw Errors.passwordTooShort(minLength, { field: 'password' })
  if (length > PASSWORD_MAX_LENGTH) throw Errors.passwordTooLong(PASSWORD_MAX_LENGTH, { field: 'password' })
  const lower = password.toLowerCase()
  const list = passwordList()
  if (list.test(password) || list.test(lower) || (email != null && lower === email.toLowerCase())) {
    throw Errors.passwordTooCommon({ field: 'password' })
  }
}
