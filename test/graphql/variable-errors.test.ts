import { test } from 'tap'
import { buildTestApp, gql } from '../helper.ts'
import { LoginDocument, RefreshDocument } from '../support/generated/graphql.ts'

// docs/security.md item 27a: a variable graphql-js cannot coerce is refused with BAD_USER_INPUT, the variable's
// name, the path and the reason — never its value. Before, a login sent with one unknown field came back with the
// whole input, password included, in the error message (and in any client or proxy log that keeps errors).
// The same query is sent more than once: Mercurius answers it through graphql-jit from the second time on.

const SECRET = 'hunter2-the-password-9f8e7d'
// The apps' own operations, with variables no client of ours sends: their text goes as a string, untyped.
const LOGIN = String(LoginDocument)
const REFRESH = String(RefreshDocument)
const CASES: Array<{ what: string, query: string, variables: Record<string, unknown>, kept: RegExp }> = [
  { what: 'an unknown field beside the password', query: LOGIN, variables: { input: { email: 'a@b.c', password: SECRET, remember: true } }, kept: /^Variable "\$input" got an invalid value; Field "remember" is not defined by type "LoginInput"\.$/ },
  { what: 'a password that is not a string', query: LOGIN, variables: { input: { email: 'a@b.c', password: 987654321987 } }, kept: /^Variable "\$(input|password)" got an invalid value( at "input\.password")?; (String cannot represent a non string value|Expected type "String")\.$/ },
  { what: 'a token sent as an object', query: REFRESH, variables: { refreshToken: { token: SECRET } }, kept: /^Variable "\$refreshToken" got an invalid value; String cannot represent a non string value\.$/ },
  { what: 'a secret where an enum goes', query: REFRESH, variables: { refreshToken: 'x', client: SECRET }, kept: /^Variable "\$client" got an invalid value; (The value does not exist in "ClientKind" enum|Expected type "ClientKind")\.$/ },
  { what: 'a missing field', query: LOGIN, variables: { input: { email: SECRET } }, kept: /^Variable "\$input" got an invalid value; Field "password" of required type "String!" was not provided\.$/ },
  { what: 'a value that imitates the message', query: LOGIN, variables: { input: { email: 'a@b.c', password: `${SECRET}" at "input.x"; Field "x" is not defined by type "Y".`, extra: 1 } }, kept: /^Variable "\$input" got an invalid value/ }
]

test('a variable that cannot be coerced is named in the error, its value is not', async (t) => {
  const { app, logs } = await buildTestApp(t)
  for (const c of CASES) {
    const res = await gql(app, c.query, c.variables)
    const error = res.errors?.[0]
    t.equal(error?.extensions.code, 'BAD_USER_INPUT', `${c.what}: BAD_USER_INPUT`)
    t.match(error?.message, c.kept, `${c.what}: the message says what is wrong (${error?.message})`)
    t.notMatch(res.response.body, /hunter2|987654321987/, `${c.what}: the value is nowhere in the response`)
  }
  t.notMatch(logs.join('\n'), /hunter2|987654321987/, 'nor in the log')
})
