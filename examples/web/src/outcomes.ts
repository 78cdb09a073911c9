/**
 * A sentence for each outcome code the API can hand this page (the `auth_error`, `gmail_error` and
 * `gmail_warning` of Google's redirect back, GraphQL `extensions.code`, `gmailStatus.state`), shown with the
 * code beside it: the sentence is for the user, the code for whoever reads a bug report.
 */
const SENTENCES = new Map<string, string>([
  // Google sign-in, after the redirect back (README, "Sign in with Google (web)")
  ['ACCESS_DENIED', 'You cancelled the sign-in at Google.'],
  ['GOOGLE_ERROR', 'Google did not complete the sign-in. Try again.'],
  ['GOOGLE_REJECTED', 'Google refused the sign-in (it took too long or was already used). Try again.'],
  ['GOOGLE_ID_TOKEN_INVALID', 'Google\'s answer could not be verified. Try again.'],
  ['ACCOUNT_EXISTS', 'An account with this email already exists. Log in with your password, then link Google or Apple.'],
  ['GOOGLE_EMAIL_UNVERIFIED', 'Google has not verified this account\'s email, so it cannot sign in here.'],
  ['ACCOUNT_DISABLED', 'This account is disabled.'],
  // Sign in with Apple, after Apple's form post and the redirect back (docs/apple.md)
  ['APPLE_ERROR', 'Apple did not complete the sign-in. Try again.'],
  ['APPLE_REJECTED', 'Apple refused the sign-in (it took too long or was already used). Try again.'],
  ['APPLE_ID_TOKEN_INVALID', 'Apple\'s answer could not be verified. Try again.'],
  ['APPLE_EMAIL_MISSING', 'Apple did not share an email address: try again and share your email (or its private relay).'],
  ['APPLE_NOT_CONFIGURED', 'This server is not set up for Sign in with Apple.'],
  ['APPLE_UNAVAILABLE', 'Apple cannot be reached right now. Try again in a moment.'],
  // Gmail
  ['ACCOUNT_SWITCHED', 'Gmail now uses a different Google account than before; the previous one was disconnected.'],
  ['SCOPE_MISSING', 'Gmail access was not granted: tick the Gmail box on Google\'s consent page.'],
  ['RECONNECT_REQUIRED', 'Google no longer accepts the Gmail access you gave: connect Gmail again.'],
  ['GMAIL_NOT_CONNECTED', 'Gmail is not connected.'],
  ['SESSION_MISMATCH', 'Connecting Gmail was started by another sign-in than this one. Try again.'],
  ['NOT_CONNECTED', 'Gmail is not connected.'],
  ['ACTIVE', 'Gmail is connected.'],
  ['GOOGLE_NOT_CONFIGURED', 'This server is not set up for Google sign-in.'],
  // Any GraphQL request
  ['UNAUTHENTICATED', 'You are signed out. Log in again.'],
  ['BAD_USER_INPUT', 'Something in the form is not valid.'],
  ['FORBIDDEN', 'This is not allowed.'],
  ['RATE_LIMITED', 'Too many attempts. Wait a little and try again.'],
  ['CONFLICT', 'This conflicts with an existing account (an email already taken, or a Google account connected elsewhere).'],
  ['GOOGLE_UNAVAILABLE', 'Google cannot be reached right now. Try again in a moment.'],
  ['VAULT_UNAVAILABLE', 'The server cannot reach its token vault right now. Try again in a moment.'],
  ['DATABASE_UNAVAILABLE', 'The server cannot reach its database right now. Try again in a moment.'],
  ['INTERNAL', 'Something went wrong on the server.']
])

/** "Sentence (CODE)"; an unknown code is shown as it is, since a newer server may send codes this page predates. */
export function describe (code: string): string {
  const sentence = SENTENCES.get(code)
  return sentence == null ? code : `${sentence} (${code})`
}
