/**
 * Which Gmail scopes a held grant may carry (GMAIL_SCOPES). A grant is handed to workers as "read the mailbox":
 * one that could also send, modify or delete mail (gmail.modify, gmail.send, https://mail.google.com/) would give
 * every worker, and whoever steals a token from one, far more than its job needs (issue 21 item 5).
 */

export const DEFAULT_GMAIL_SCOPES = ['https://www.googleapis.com/auth/gmail.readonly']

/** Scopes that read the mailbox (granular consent may grant a broader one than asked for). */
const GMAIL_READ_SCOPES = new Set(['https://www.googleapis.com/auth/gmail.readonly', 'https://www.googleapis.com/auth/gmail.modify', 'https://mail.google.com/'])

/** Any Gmail scope: `https://www.googleapis.com/auth/gmail.*`, or `https://mail.google.com/` (full access). */
export function isGmailScope (scope: string): boolean {
  return /^https:\/\/www\.googleapis\.com\/auth\/gmail\.[a-z_.]+$/.test(scope) || scope === 'https://mail.google.com/'
}

export function readsGmail (scope: string): boolean {
  return GMAIL_READ_SCOPES.has(scope)
}

/** The granted Gmail scopes that the allowed ones do not include: a non-empty answer refuses the grant. */
export function gmailScopesBeyond (granted: readonly string[], allowed: readonly string[]): string[] {
  return granted.filter((s) => isGmailScope(s) && !allowed.includes(s))
}
