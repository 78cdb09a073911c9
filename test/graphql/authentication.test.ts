import { makeExecutableSchema } from '@graphql-tools/schema'
import { getNamedType, getNullableType, graphql, isEnumType, isInputObjectType, isListType, isNonNullType, isObjectType, isScalarType } from 'graphql'
import type { GraphQLArgument, GraphQLInputType, GraphQLSchema } from 'graphql'
import { test } from 'tap'
import { AppError, Errors } from '../../src/errors.ts'
import { publicRootFields, requireAuthenticationByDefault } from '../../src/graphql/authentication.ts'
import { buildSchema } from '../../src/graphql/index.ts'
import { buildTestApp, gql, signUp } from '../helper.ts'

// docs/security.md: authentication is the default for every GraphQL root field; `@public` is the exception.

/** The root fields that answer without a session: a change to this list is a security decision, made here. */
const PUBLIC = ['Mutation.login', 'Mutation.refresh', 'Mutation.requestPasswordReset', 'Mutation.resetPassword', 'Mutation.signInWithApple', 'Mutation.signInWithGoogle', 'Mutation.signUp', 'Mutation.verifyEmail']

/** A literal of the argument's type, enough to pass validation: required fields and list items filled in. */
function literal (type: GraphQLInputType): string {
  if (isNonNullType(type)) return literal(type.ofType)
  if (isListType(type)) return `[${literal(type.ofType)}]`
  if (isInputObjectType(type)) {
    const fields = Object.values(type.getFields()).filter((f) => isNonNullType(f.type) && f.defaultValue === undefined)
    return `{ ${fields.map((f) => `${f.name}: ${literal(f.type)}`).join(', ')} }`
  }
  if (isEnumType(type)) return type.getValues()[0]!.name
  if (isScalarType(type)) {
    if (type.name === 'Int' || type.name === 'Float') return '1'
    if (type.name === 'Boolean') return 'true'
    if (type.name === 'ID') return '"00000000-0000-4000-8000-000000000000"'
    return '"x"'
  }
  throw new Error(`no literal for ${String(type)}`)
}

const requiredArgs = (args: readonly GraphQLArgument[]) => args.filter((a) => isNonNullType(a.type) && a.defaultValue === undefined)

/** `mutation { deleteAccount { __typename } }`-style documents for every root field of the schema. */
function everyRootField (schema: GraphQLSchema) {
  return (['query', 'mutation'] as const).flatMap((op) => {
    const type = op === 'query' ? schema.getQueryType() : schema.getMutationType()
    return Object.values(type?.getFields() ?? {}).map((field) => {
      const args = requiredArgs(field.args).map((a) => `${a.name}: ${literal(a.type)}`).join(', ')
      const selection = isObjectType(getNamedType(getNullableType(field.type))) ? ' { __typename }' : ''
      return { name: `${type!.name}.${field.name}`, document: `${op} { ${field.name}${args === '' ? '' : `(${args})`}${selection} }` }
    })
  })
}

test('the public root fields are exactly the sign-in ones', async (t) => {
  t.same(publicRootFields(buildSchema()).sort(), PUBLIC)
})

test('every other root field refuses an unauthenticated call with UNAUTHENTICATED', async (t) => {
  const { app } = await buildTestApp(t)
  const fields = everyRootField(buildSchema()).filter((f) => !PUBLIC.includes(f.name))
  t.ok(fields.length >= 13, `${fields.length} private root fields walked`)
  for (const { name, document } of fields) {
    for (const token of [undefined, 'not-a-token']) {
      const res = await gql(app, document, {}, token != null ? { token } : {})
      t.equal(res.errors?.[0]?.extensions.code, 'UNAUTHENTICATED', `${name} without a valid token (${document})`)
      t.equal(res.data, null, `${name}: no data`)
    }
  }
})

test('a signed-in caller passes the guard (the same documents get past authentication)', async (t) => {
  const { app } = await buildTestApp(t)
  const { accessToken } = await signUp(app, 'NATIVE')
  const res = await gql(app, 'query { me { __typename } sessions { __typename } }', {}, { token: accessToken })
  t.same(res.errors, undefined)
  t.equal(res.data.me.__typename, 'User')
})

test('the guard does not depend on the resolver: a field that never asks for the viewer is still refused', async (t) => {
  const schema = requireAuthenticationByDefault(makeExecutableSchema({
    typeDefs: ['directive @public on FIELD_DEFINITION', 'type Query { secret: String, open: String @public, plain: String }'],
    resolvers: { Query: { secret: () => 'the secret', open: () => 'hello' } }
  }))
  let checks = 0
  const anonymous = { viewer: async () => { checks++; throw Errors.authenticationRequired() } }
  const refused = await graphql({ schema, source: '{ secret }', contextValue: anonymous })
  t.equal(refused.data?.secret, null)
  t.ok(refused.errors?.[0]?.originalError instanceof AppError)
  t.equal((refused.errors?.[0]?.originalError as AppError).code, 'UNAUTHENTICATED')
  // a field with no resolver of its own (the default resolver) is guarded too
  const plain = await graphql({ schema, source: '{ plain }', rootValue: { plain: 'root value' }, contextValue: anonymous })
  t.equal((plain.errors?.[0]?.originalError as AppError).code, 'UNAUTHENTICATED')
  t.equal(checks, 2)
  const open = await graphql({ schema, source: '{ open }', contextValue: anonymous })
  t.same(open, { data: { open: 'hello' } })
  t.equal(checks, 2, 'a public field never asks')
  const signedIn = await graphql({ schema, source: '{ secret }', contextValue: { viewer: async () => ({}) } })
  t.same(signedIn, { data: { secret: 'the secret' } })
})
