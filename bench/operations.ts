/*
 * The GraphQL operations the benchmarks send, as an app sends them (plain text: autocannon posts prebuilt bodies).
 * `me` asks for exactly what the lean reference's /me returns, so the two answers can be compared byte for byte.
 */
export const PASSWORD = 'correct horse battery staple'
export const ME = '{ me { id email } }'
export const GMAIL_STATUS = 'query GmailStatus { gmailStatus { state googleEmail grantedScopes accessTokenExpiresAt lastRefreshedAt } }'
export const GMAIL_PROFILE = 'query GmailProfile { gmailProfile { emailAddress messagesTotal } }'
export const REFRESH = 'mutation Refresh($t: String) { refresh(refreshToken: $t, client: NATIVE) { accessToken refreshToken } }'
export const LOGIN = 'mutation Login($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }'
export const SIGN_UP = 'mutation SignUp($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken user { id } } }'
export const CONNECT = 'mutation Connect($input: ConnectGmailInput!) { connectGmail(input: $input) { status { state } } }'
