import type { TypedDocumentString } from './generated/graphql.ts'

/** One GraphQL error as inboxgate sends it: every error has `extensions.code`. */
export interface ApiError { message: string, extensions: { code: string, [k: string]: unknown } }

export class GraphQLRequestError extends Error {
  constructor (readonly errors: ApiError[]) {
    super(errors.map((e) => `${e.extensions.code}: ${e.message}`).join('; '))
  }

  get code (): string { return this.errors[0]?.extensions.code ?? 'INTERNAL' }
}

/** `mutation Login(...)` → `Login`: sent as `x-mercurius-operation-name`, the header a cross-site form cannot send. */
function operationName (doc: string): string {
  return /\b(?:query|mutation|subscription)\s+(\w+)/.exec(doc)?.[1] ?? 'anonymous'
}

/**
 * A typed GraphQL client for the documents generated from schema/operations/*.graphql. The access token
 * lives in memory only; the refresh token never reaches JavaScript (HttpOnly cookie, `credentials: 'include'`).
 */
export class Api {
  accessToken: string | null = null
  accessTokenExpiresAt = 0

  constructor (readonly baseUrl: string) {}

  async request<R, V> (doc: TypedDocumentString<R, V>, variables?: V): Promise<R> {
    const query = doc.toString()
    const response = await fetch(`${this.baseUrl}/graphql`, {
      method: 'POST',
      credentials: 'include',
      headers: {
        'content-type': 'application/json',
        'x-mercurius-operation-name': operationName(query),
        ...(this.accessToken != null ? { authorization: `Bearer ${this.accessToken}` } : {})
      },
      body: JSON.stringify({ query, variables: variables ?? {} })
    })
    const body = await response.json() as { data?: R, errors?: ApiError[] }
    if (body.errors != null && body.errors.length > 0) throw new GraphQLRequestError(body.errors)
    if (body.data == null) throw new GraphQLRequestError([{ message: `HTTP ${response.status}`, extensions: { code: 'INTERNAL' } }])
    return body.data
  }

  setTokens (payload: { accessToken: string, accessTokenExpiresAt: string }): void {
    this.accessToken = payload.accessToken
    this.accessTokenExpiresAt = Date.parse(payload.accessTokenExpiresAt)
  }

  clear (): void {
    this.accessToken = null
    this.accessTokenExpiresAt = 0
  }

  /** True when the access token is missing or expires within `marginMs`. */
  needsRefresh (marginMs = 10_000): boolean {
    return this.accessToken == null || this.accessTokenExpiresAt - Date.now() < marginMs
  }
}
