// The one UUID check, for every id a client or a job hands us before it reaches a `@db.Uuid` column or a `::uuid`
// cast: PostgreSQL refuses anything else with an error (22P02) that would surface as INTERNAL. A looser pattern
// (36 characters of [0-9a-f-]) let 36 dashes through to the database.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** A UUID in PostgreSQL's hyphenated form, in either case (PostgreSQL reads both). */
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value)

/** The lowercase spelling PostgreSQL returns: where one id must have exactly one spelling (secret names). */
export const isCanonicalUuid = (value: unknown): value is string => isUuid(value) && value === value.toLowerCase()
