import { Api, GraphQLRequestError } from './api.ts'
import {
  EmailStatusDocument, GmailStatusDocument, LoginDocument, LogoutDocument, MeDocument, RefreshDocument, RequestPasswordResetDocument,
  ResendVerificationEmailDocument, ResetPasswordDocument, SignUpDocument, VerifyEmailDocument
} from './generated/graphql.ts'
import type { TokensFragment } from './generated/graphql.ts'
import { describe } from './outcomes.ts'

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T
const apiUrl = (document.querySelector('meta[name="inboxgate-api"]') as HTMLMetaElement).content.replace(/\/+$/, '')
const api = new Api(apiUrl)

function show (signedIn: boolean): void {
  $('signed-in').hidden = !signedIn
  $('signed-out').hidden = signedIn
}

function say (notice: string, error = ''): void {
  $('notice').textContent = notice
  $('error').textContent = error
}

/** Exchanges the HttpOnly refresh cookie for a new access token (the cookie rotates on every use). */
async function refresh (): Promise<boolean> {
  try {
    const { refresh } = await api.request(RefreshDocument, {})
    api.setTokens(refresh)
    return true
  } catch (err) {
    api.clear()
    if (err instanceof GraphQLRequestError && err.code === 'UNAUTHENTICATED') return false
    throw err
  }
}

/**
 * Runs an authenticated operation: refreshes first when the access token has expired (or is about to), and
 * once more if the server still says UNAUTHENTICATED (a token revoked or expired meanwhile).
 */
async function authed<R> (run: () => Promise<R>): Promise<R | null> {
  if (api.needsRefresh() && !(await refresh())) return null
  try {
    return await run()
  } catch (err) {
    if (!(err instanceof GraphQLRequestError) || err.code !== 'UNAUTHENTICATED') throw err
    if (!(await refresh())) return null
    return await run()
  }
}

async function render (): Promise<void> {
  const me = await authed(() => api.request(MeDocument))
  if (me == null) {
    show(false)
    return
  }
  const gmail = await authed(() => api.request(GmailStatusDocument))
  const emailStatus = await authed(() => api.request(EmailStatusDocument))
  $('unverified').hidden = emailStatus?.me.emailVerified !== false
  $('me-email').textContent = me.me.email
  $('me-google').textContent = me.me.hasGoogle ? '(Google linked)' : ''
  $('token-expiry').textContent = new Date(api.accessTokenExpiresAt).toISOString()
  const status = gmail?.gmailStatus
  $('gmail-state').textContent = status == null ? 'unknown' : describe(status.state)
  $('gmail-email').textContent = status?.googleEmail ?? ''
  $('gmail-missing').hidden = (status?.missingScopes.length ?? 0) === 0
  $('gmail-missing-scopes').textContent = status?.missingScopes.join(', ') ?? ''
  show(true)
}

function signedIn (tokens: TokensFragment): Promise<void> {
  api.setTokens(tokens)
  return render()
}

/**
 * Google's sign-in starts at the API (state, PKCE and nonce live there) and comes back here. `connect_gmail`
 * connects Gmail to whoever this browser is signed in as (the API reads its refresh cookie) instead of signing in.
 */
function googleUrl (how: 'sign_in' | 'sign_in_gmail' | 'connect_gmail'): string {
  const back = `${location.origin}${location.pathname}`
  const extra = how === 'sign_in_gmail' ? '&gmail=1' : how === 'connect_gmail' ? '&intent=connect_gmail' : ''
  return `${apiUrl}/auth/google?redirectTo=${encodeURIComponent(back)}${extra}`
}

/**
 * Sign in with Apple in a browser: the API keeps the state and nonce, sends the browser to Apple, takes Apple's
 * form post back and returns here with `signed_in=apple` (the session is the API's refresh cookie) or `auth_error`.
 */
function appleUrl (): string {
  return `${apiUrl}/auth/apple?redirectTo=${encodeURIComponent(`${location.origin}${location.pathname}`)}`
}

function readRedirectOutcome (): void {
  const params = new URLSearchParams(location.search)
  const error = params.get('auth_error')
  if (error != null) say('', `Sign-in failed. ${describe(error)}`)
  else if (params.get('signed_in') === 'apple') say('Signed in with Apple.')
  else if (params.get('signed_in') === 'google') {
    const gmail = params.get('gmail')
    const gmailError = params.get('gmail_error')
    const warnings = (params.get('gmail_warning') ?? '').split(',').filter(Boolean).map(describe)
    say([`Signed in with Google${gmail === 'connected' ? ', Gmail connected' : ''}.`, ...warnings].join(' '),
      gmailError != null ? `Gmail not connected. ${describe(gmailError)}` : '')
  } else if (params.get('gmail') === 'connected') {
    // Back from "Connect Gmail": still signed in as before.
    const warnings = (params.get('gmail_warning') ?? '').split(',').filter(Boolean).map(describe)
    say(['Gmail connected.', ...warnings].join(' '))
  } else if (params.get('gmail_error') != null) {
    say('', `Gmail not connected. ${describe(params.get('gmail_error')!)}`)
  }
  if (params.size > 0) history.replaceState(null, '', location.pathname)
}

async function guarded (work: () => Promise<void>): Promise<void> {
  try {
    await work()
  } catch (err) {
    say('', err instanceof GraphQLRequestError ? describe(err.code) : err instanceof Error ? err.message : String(err))
  }
}

$<HTMLFormElement>('login-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const action = (event.submitter as HTMLButtonElement | null)?.value ?? 'login'
  const input = { email: $<HTMLInputElement>('email').value, password: $<HTMLInputElement>('password').value, client: 'WEB' as const }
  void guarded(async () => {
    say('')
    const tokens = action === 'signup'
      ? (await api.request(SignUpDocument, { input })).signUp
      : (await api.request(LoginDocument, { input })).login
    say(action === 'signup' ? 'Account created.' : 'Logged in.')
    await signedIn(tokens)
  })
})

$('google').addEventListener('click', (event) => {
  event.preventDefault()
  location.assign(googleUrl($<HTMLInputElement>('with-gmail').checked ? 'sign_in_gmail' : 'sign_in'))
})
$('apple').addEventListener('click', (event) => {
  event.preventDefault()
  location.assign(appleUrl())
})
$('connect-gmail').addEventListener('click', (event) => {
  event.preventDefault()
  location.assign(googleUrl('connect_gmail'))
})
// Password reset: the mail's link opens the server's own page; its `token` parameter is also the code typed here.
$<HTMLFormElement>('forgot-form').addEventListener('submit', (event) => {
  event.preventDefault()
  void guarded(async () => {
    await api.request(RequestPasswordResetDocument, { email: $<HTMLInputElement>('forgot-email').value })
    // Always true: the answer does not say whether the address has an account.
    say('If an account has this address, a reset link is on its way.')
  })
})
$<HTMLFormElement>('reset-form').addEventListener('submit', (event) => {
  event.preventDefault()
  void guarded(async () => {
    const token = $<HTMLInputElement>('reset-token').value.trim()
    const { resetPassword } = await api.request(ResetPasswordDocument, { token, newPassword: $<HTMLInputElement>('reset-password').value, client: 'WEB' })
    say('Password changed; every other session has ended.')
    await signedIn(resetPassword)
  })
})
$('resend-verification').addEventListener('click', () => {
  void guarded(async () => {
    const sent = await authed(() => api.request(ResendVerificationEmailDocument))
    say(sent?.resendVerificationEmail === true ? 'Confirmation mail sent again.' : 'Your email is confirmed already.')
  })
})
// Email verification by code: the mailed link's `token` parameter, for a reader who opened the mail elsewhere.
$<HTMLFormElement>('verify-form').addEventListener('submit', (event) => {
  event.preventDefault()
  void guarded(async () => {
    await api.request(VerifyEmailDocument, { token: $<HTMLInputElement>('verify-token').value.trim() })
    say('Email confirmed.')
    await render()
  })
})
$('reload').addEventListener('click', () => { void guarded(render) })

for (const [id, everywhere] of [['logout', false], ['logout-everywhere', true]] as const) {
  $(id).addEventListener('click', () => {
    void guarded(async () => {
      await authed(() => api.request(LogoutDocument, { everywhere }))
      api.clear()
      say('Logged out.')
      show(false)
    })
  })
}

readRedirectOutcome()
void guarded(render)
