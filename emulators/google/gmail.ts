// The Gmail side of Google's scopes: what reads a profile, and what a password change takes away.

export const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly'

/** Any of these lets a token read users.getProfile (the list Google puts in its insufficient_scope header). */
export const GMAIL_PROFILE_SCOPES = [
  'https://mail.google.com/',
  'https://www.googleapis.com/auth/gmail.modify',
  'https://www.googleapis.com/auth/gmail.compose',
  GMAIL_READONLY,
  'https://www.googleapis.com/auth/gmail.metadata'
]

/** Google revokes refresh tokens carrying these when the user changes their password. */
export const isGmailScope = (scope: string) => scope === 'https://mail.google.com/' || scope.startsWith('https://www.googleapis.com/auth/gmail.')
