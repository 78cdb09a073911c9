import type { AuthParams, AuthRequest, EmulatorUser, OAuthError } from './state.ts'

// Plain HTML with stable ids and names, so a browser test can drive it:
// #account-<sub>, input[name=scope][value=<scope>], #allow, #deny.

const escape = (s: string) => s.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)

// A Map, not an object: scopes come from the request, and `constructor` must not find Object's.
const DESCRIPTIONS: ReadonlyMap<string, string> = new Map(Object.entries({
  openid: 'Associate you with your personal info on Google',
  'https://www.googleapis.com/auth/userinfo.email': 'See your primary Google Account email address',
  'https://www.googleapis.com/auth/userinfo.profile': 'See your personal info, including any personal info you\'ve made publicly available',
  'https://www.googleapis.com/auth/gmail.readonly': 'View your email messages and settings',
  'https://www.googleapis.com/auth/gmail.metadata': 'View your email message metadata such as labels and headers, but not the email body',
  'https://www.googleapis.com/auth/gmail.modify': 'Read, compose, and send emails from your Gmail account',
  'https://mail.google.com/': 'Read, compose, send, and permanently delete all your email from Gmail'
}))

const layout = (title: string, body: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 2rem auto; padding: 0 1rem; color: #202124 }
.banner { background: #fef7e0; border: 1px solid #f9ab00; padding: .5rem; font-size: .85rem }
fieldset { border: 1px solid #dadce0; border-radius: 8px; margin: 1rem 0 }
label { display: block; margin: .5rem 0 }
code { font-size: .75rem; color: #5f6368 }
.actions { display: flex; gap: 1rem; justify-content: flex-end }
button { padding: .5rem 1.5rem }
</style>
</head>
<body>
<p class="banner">Google OAuth emulator: not Google. No real account is involved.</p>
${body}
</body>
</html>
`

const PASSED_THROUGH = [
  'client_id', 'redirect_uri', 'response_type', 'state', 'code_challenge', 'code_challenge_method',
  'access_type', 'prompt', 'include_granted_scopes', 'login_hint', 'nonce'
] as const

export const consentPage = (req: AuthRequest, params: AuthParams, users: EmulatorUser[], signInScopes: Set<string>): string => {
  const hidden = [
    ...PASSED_THROUGH.map(name => [name, params[name]] as const),
    // The checkboxes are named "scope", so the original request travels under another name.
    ['requested_scope', params.scope] as const
  ].filter(([, value]) => value !== undefined)
    .map(([name, value]) => `<input type="hidden" name="${name}" value="${escape(value ?? '')}">`)
  const hint = req.loginHint?.toLowerCase()
  const selected = users.find(u => u.sub === req.loginHint || u.email.toLowerCase() === hint) ?? users[0]
  const accounts = users.map(u => `<label><input type="radio" name="account" id="account-${escape(u.sub)}" value="${escape(u.sub)}" required${u === selected ? ' checked' : ''}>
${escape(u.name)} &lt;<span class="email">${escape(u.email)}</span>&gt;${u.emailVerified ? '' : ' <em>(email not verified)</em>'}</label>`)
  // Sign-in scopes are granted with the account and cannot be unticked, as on Google's granular consent screen.
  const scopes = req.scopes.map((scope, i) => `<label><input type="checkbox" name="scope" id="scope-${i}" value="${escape(scope)}" checked${signInScopes.has(scope) ? ' disabled' : ''}>
${escape(DESCRIPTIONS.get(scope) ?? scope)} <code>${escape(scope)}</code></label>`)
  return layout(`Sign in - ${req.client.name}`, `<h1>Sign in to <span id="client-name">${escape(req.client.name)}</span></h1>
<form id="consent-form" method="post" action="/o/oauth2/v2/auth/consent">
${hidden.join('\n')}
<fieldset id="accounts"><legend>Choose an account</legend>
${accounts.join('\n') || '<p id="no-accounts">No users. Add one with POST /__emulator/users.</p>'}
</fieldset>
<fieldset id="scopes"><legend>${escape(req.client.name)} wants to access your Google Account</legend>
${scopes.join('\n')}
</fieldset>
<div class="actions">
<button type="submit" id="deny" name="action" value="deny" formnovalidate>Cancel</button>
<button type="submit" id="allow" name="action" value="allow">Allow</button>
</div>
</form>`)
}

export const errorPage = (error: OAuthError): string =>
  layout(`Error ${error.status}: ${error.error}`, `<h1 id="error">Error ${error.status}: <span id="error-code">${escape(error.error)}</span></h1>
<p id="error-description">${escape(error.message)}</p>`)
