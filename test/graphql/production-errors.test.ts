import { randomBytes } from 'node:crypto'
import { test } from 'tap'
import { buildTestApp, gql } from '../helper.ts'
import { LoginDocument } from '../support/generated/graphql.ts'

// docs/security.md item 27: with PRODUCTION=true the schema is not published (no introspection, no GraphiQL), and
// errors do not publish it either: graphql-js's "Did you mean …" guesses are stripped, the rest of the message and
// the code stay.

// Typos no client of ours sends (hostile queries: they stay strings); the last one is the apps' Login operation
// with a misspelt input field in its variables.
const TYPOS: Array<{ what: string, query: string, variables?: Record<string, unknown>, code: string, kept: RegExp }> = [
  { what: 'a field', query: '{ mee { id } }', code: 'GRAPHQL_VALIDATION_FAILED', kept: /^Cannot query field "mee" on type "Query"\.$/ },
  { what: 'an argument', query: 'mutation { login(inpt: { email: "a@b.c", password: "x" }) { accessToken } }', code: 'GRAPHQL_VALIDATION_FAILED', kept: /^Unknown argument "inpt" on field "Mutation\.login"\.$/ },
  { what: 'a type', query: 'mutation($input: LoginInpt!) { login(input: $input) { accessToken } }', code: 'GRAPHQL_VALIDATION_FAILED', kept: /^Unknown type "LoginInpt"\.$/ },
  { what: 'an enum value', query: 'mutation { login(input: { email: "a@b.c", password: "x", client: WEBB }) { accessToken } }', code: 'GRAPHQL_VALIDATION_FAILED', kept: /^Value "WEBB" does not exist in "ClientKind" enum\.$/ },
  { what: 'an input field in variables', query: String(LoginDocument), variables: { input: { emial: 'a@b.c', email: 'a@b.c', password: 'x' } }, code: 'BAD_USER_INPUT', kept: /Field "emial" is not defined by type "LoginInput"\.$/ }
]

test('PRODUCTION=true strips "Did you mean" suggestions from GraphQL errors; development keeps them', async (t) => {
  const dev = await buildTestApp(t)
  const prod = await buildTestApp(t, { env: { PRODUCTION: 'true', PUBLIC_URL: 'https://inboxgate.test', LOCAL_VAULT_KEY: randomBytes(32).toString('base64') } })
  for (const typo of TYPOS) {
    const d = await gql(dev.app, typo.query, typo.variables ?? {})
    t.match(d.errors?.[0]?.message, /Did you mean /, `development suggests (${typo.what}): ${d.errors?.[0]?.message}`)
    const p = await gql(prod.app, typo.query, typo.variables ?? {})
    const error = p.errors?.[0]
    t.equal(error?.extensions.code, typo.code, `${typo.what}: the code stays`)
    t.match(error?.message, typo.kept, `${typo.what}: the message stays, without the guess (${error?.message})`)
    t.notMatch(p.response.body, /Did you mean|suggest/i, `${typo.what}: no suggestion anywhere in the response`)
  }
})
