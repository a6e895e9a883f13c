// Inbound payload schemas. Everything a client sends passes through one of these before it is used.
// Messages are phrased to follow a field path ("settings.heartbeatMs must be …"); see describeIssues.

import { z } from 'zod';
import type { RoomSettings } from './events.ts';
import { DEFAULT_STAGES, LIMITS } from './events.ts';

// C0/C1 controls, zero-width and bidi formatting characters: invisible or able to reorder what others read.
// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point.
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** Removes control/invisible characters and collapses whitespace. */
export function cleanText(text: string): string {
  return text.replace(INVISIBLE, '').replace(/\s+/g, ' ').trim();
}

function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

const objectIssue = (iss: { code: string; keys?: string[] }) => {
  if (iss.code === 'unrecognized_keys') {
    return `has unknown field(s) ${(iss.keys ?? []).map((key) => JSON.stringify(key)).join(', ')}`;
  }
  return 'must be an object';
};

function displayText(max: number) {
  return (
    z
      .string({ error: 'must be a string' })
      // Cheap bound before the regex work; the real limit is checked after cleaning.
      .max(max * 8, { error: `is too long (at most ${max} characters)` })
      .transform(cleanText)
      .refine((text) => text.length > 0, { error: 'must not be empty' })
      .refine((text) => codePoints(text) <= max, { error: `is too long (at most ${max} characters)` })
  );
}

export const roomIdSchema = z
  .string({ error: 'must be a string' })
  .min(LIMITS.roomId.min, { error: 'must not be empty' })
  .max(LIMITS.roomId.max, { error: `is too long (at most ${LIMITS.roomId.max} characters)` })
  .regex(LIMITS.roomId.pattern, { error: 'may contain only letters, digits, "_" and "-"' });

export const nameSchema = displayText(LIMITS.name.max);

export const tokenSchema = z
  .string({ error: 'must be a string' })
  .length(LIMITS.token.length, { error: `must be ${LIMITS.token.length} characters` })
  .regex(/^[A-Za-z0-9_-]+$/, { error: 'is malformed' });

export const verifierSchema = z
  .string({ error: 'must be a string' })
  .length(LIMITS.verifier.length, { error: `must be ${LIMITS.verifier.length} characters` })
  .regex(/^[A-Za-z0-9_-]+$/, { error: 'is malformed' });

const intInRange = (range: { min: number; max: number }) =>
  z
    .number({ error: 'must be a number' })
    .int({ error: 'must be a whole number' })
    .min(range.min, { error: `must be at least ${range.min}` })
    .max(range.max, { error: `must be at most ${range.max}` });

/** Partial settings from a join, completed with defaults and checked as a whole. */
export const settingsSchema = z
  .strictObject(
    {
      heartbeatMs: intInRange(LIMITS.heartbeatMs).optional(),
      timeoutMs: intInRange(LIMITS.timeoutMs).optional(),
      stages: z
        .array(displayText(LIMITS.stages.nameMax), { error: 'must be an array of stage names' })
        .min(LIMITS.stages.min, { error: `needs at least ${LIMITS.stages.min} stage` })
        .max(LIMITS.stages.max, { error: `allows at most ${LIMITS.stages.max} stages` })
        .optional(),
    },
    { error: objectIssue },
  )
  .transform(
    (partial): RoomSettings => ({
      heartbeatMs: partial.heartbeatMs ?? LIMITS.heartbeatMs.default,
      timeoutMs: partial.timeoutMs ?? LIMITS.timeoutMs.default,
      stages: partial.stages ?? [...DEFAULT_STAGES],
    }),
  )
  .refine((settings) => settings.timeoutMs >= LIMITS.timeoutHeartbeats * settings.heartbeatMs, {
    error: `must be at least ${LIMITS.timeoutHeartbeats} × heartbeatMs`,
    path: ['timeoutMs'],
  });

export const defaultSettings = (): RoomSettings => settingsSchema.parse({});

const playerIdSchema = z
  .number({ error: 'must be a player ID (a number)' })
  .int({ error: 'must be a whole number' })
  .positive({ error: 'must be a positive player ID' })
  .max(Number.MAX_SAFE_INTEGER, { error: 'is out of range' });

export const joinSchema = z.strictObject(
  {
    room: roomIdSchema,
    name: nameSchema,
    token: tokenSchema.optional(),
    settings: settingsSchema.optional(),
    verifier: verifierSchema.optional(),
    floor: z
      .number({ error: 'must be a number' })
      .int({ error: 'must be an integer' })
      .min(0, { error: 'must be at least 0' })
      // Below the core's ID ceiling (2^31): IDs above a floor this high would be refused by every peer.
      .max(2 ** 30, { error: 'is out of range' })
      .optional(),
    ownerToken: tokenSchema.optional(),
    incarnation: z
      .string({ error: 'must be a string' })
      .regex(/^[A-Za-z0-9_-]{8,32}$/, { error: 'must be 8 to 32 URL-safe characters' })
      .optional(),
  },
  { error: objectIssue },
);

export const removeSchema = z.strictObject(
  { room: roomIdSchema, id: playerIdSchema, ownerToken: tokenSchema },
  { error: objectIssue },
);

export const leaveSchema = z.strictObject({}, { error: objectIssue }).optional();

export const signalSchema = z.strictObject(
  {
    to: playerIdSchema,
    data: z.unknown().refine((data) => data !== undefined && data !== null, { error: 'is required' }),
  },
  { error: objectIssue },
);

export const relaySchema = z.strictObject(
  {
    to: playerIdSchema,
    data: z.string({ error: 'must be a string' }),
  },
  { error: objectIssue },
);

/** Turns zod issues into one short sentence such as "settings.stages[2] must not be empty". */
export function describeIssues(error: z.ZodError): string {
  const first = error.issues[0];
  if (!first) return 'payload is invalid';
  let path = 'payload';
  for (const [index, key] of first.path.entries()) {
    if (typeof key === 'number') path += `[${key}]`;
    else path = index === 0 ? String(key) : `${path}.${String(key)}`;
  }
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem(s))` : '';
  return `${path} ${first.message}${more}`;
}
