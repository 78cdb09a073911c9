import { Prisma } from '../generated/prisma/client.ts'

/** A unique constraint refused the write (Prisma P2002): someone else holds that email, Google sub, … */
export function isUniqueViolation (err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002'
}

/** The row an update or delete needed was not there (Prisma P2025). */
export function isRecordMissing (err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2025'
}
