import { randomInt } from "node:crypto";

/** Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L). */
export const ROOM_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
export const ROOM_CODE_LENGTH = 6;

/** A random join code: 6 characters of the alphabet (31^6, about 887 million codes). */
export function generateRoomCode(): string {
  let code = "";
  for (let i = 0; i < ROOM_CODE_LENGTH; i++) code += ROOM_CODE_ALPHABET[randomInt(ROOM_CODE_ALPHABET.length)];
  return code;
}

/**
 * A code as people type it (any case, spaces or dashes between groups) in canonical form, or
 * undefined when it cannot be a room code.
 */
export function normalizeRoomCode(input: string): string | undefined {
  const code = input.replace(/[\s-]/g, "").toUpperCase();
  if (code.length !== ROOM_CODE_LENGTH) return undefined;
  for (const ch of code) if (!ROOM_CODE_ALPHABET.includes(ch)) return undefined;
  return code;
}
