import { defaultFieldResolver } from 'graphql'
import type { GraphQLFieldResolver, GraphQLSchema } from 'graphql'
import type { GraphQLContext } from './context.ts'

/** The schema directive (schema/directives.graphql) on the root fields that answer without a signed-in user. */
export const PUBLIC_DIRECTIVE = 'public'

/** `Query.me`-style names of the root fields marked `@public`. */
export function publicRootFields (schema: GraphQLSchema): string[] {
  return rootFields(schema).filter(({ field }) => isPublic(field)).map(({ type, field }) => `${type}.${field.name}`)
}

/**
 * Authentication by default, fail closed: every Query and Mutation field without `@public` first awaits the
 * request's live-session check (`ctx.viewer()`), so a new field nobody remembered to guard still refuses an
 * unauthenticated call with UNAUTHENTICATED (or FORBIDDEN for a disabled user). The check is the request's
 * memoised promise: a resolver that then asks for the viewer (most do, for its id) costs no second read. Root
 * fields only: every other type is reached through one of them. Mutates the schema's field configs in place,
 * before Mercurius compiles them (JIT).
 */
export function requireAuthenticationByDefault (schema: GraphQLSchema): GraphQLSchema {
  for (const { field } of rootFields(schema)) {
    if (isPublic(field)) continue
    const resolve: GraphQLFieldResolver<unknown, GraphQLContext> = field.resolve ?? defaultFieldResolver
    field.resolve = async (root, args, ctx: GraphQLContext, info) => {
      await ctx.viewer()
      return await resolve(root, args, ctx, info)
    }
  }
  return schema
}

function rootFields (schema: GraphQLSchema) {
  return [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]
    .flatMap((type) => type == null ? [] : Object.values(type.getFields()).map((field) => ({ type: type.name, field })))
}

const isPublic = (field: { astNode?: { directives?: ReadonlyArray<{ name: { value: string } }> } | null }) =>
  field.astNode?.directives?.some((d) => d.name.value === PUBLIC_DIRECTIVE) === true
