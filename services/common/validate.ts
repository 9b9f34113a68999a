import { invalidArgument } from "./errors.js";

/** Ids are what we generate: 1..64 characters of letters, digits, "-" and "_". */
const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** An id from a request: INVALID_ARGUMENT unless it has the shape of a groovebox id. */
export function requireId(value: string, field: string): string {
  if (!ID_PATTERN.test(value)) {
    throw invalidArgument(`${field} must be 1 to 64 letters, digits, "-" or "_"`);
  }
  return value;
}

/** An id that may be empty ("none"). */
export function optionalId(value: string, field: string): string {
  return value === "" ? value : requireId(value, field);
}

/** A finite number: INVALID_ARGUMENT for NaN and infinities. */
export function requireFinite(value: number, field: string): number {
  if (!Number.isFinite(value)) throw invalidArgument(`${field} must be a finite number`);
  return value;
}

/**
 * The longest track position or duration accepted: 24 hours. Longer values are client
 * mistakes (or attacks: 1e308 ms made GetPlayback report positions of 1e18).
 */
export const MAX_TRACK_MS = 24 * 3600_000;

/** The latest time a client clock may report: JavaScript's Date range (year 275760). */
export const MAX_EPOCH_MS = 8.64e15;

/** A finite number in [min, max]: INVALID_ARGUMENT naming the field and its bounds otherwise. */
export function requireInRange(value: number, field: string, min: number, max: number): number {
  requireFinite(value, field);
  if (value < min || value > max) throw invalidArgument(`${field} must be between ${min} and ${max} (got ${value})`);
  return value;
}

/** A time by a client's clock (epoch ms): finite, in [0, MAX_EPOCH_MS]. */
export function requireEpochMs(value: number, field: string): number {
  return requireInRange(value, field, 0, MAX_EPOCH_MS);
}

/**
 * Characters that hide text or change how it reads: control characters (Cc), format
 * characters (Cf: the bidi overrides and isolates U+202A-202E and U+2066-2069, the marks
 * U+200E/200F/061C, zero-width space and joiners U+200B-200D, word joiner U+2060, BOM U+FEFF,
 * soft hyphen, tag characters...), lone surrogates, line and paragraph separators, and letters
 * that render as nothing (Hangul fillers, the braille blank, the Mongolian vowel separator).
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\u115F\u1160\u3164\uFFA0\u2800\u180E]/u;

/**
 * A zero-width joiner inside an emoji sequence (a family, a profession: 👩‍🚀) is part of the
 * emoji, not a hidden character: it is allowed between two pictographs (after an optional
 * variation selector or skin tone).
 */
const EMOJI_JOINER = /(?<=\p{Extended_Pictographic}[\uFE0F\u{1F3FB}-\u{1F3FF}]?)\u200D(?=\p{Extended_Pictographic})/gu;

/** Something a reader sees: a letter, digit, punctuation mark or symbol. */
const VISIBLE = /[\p{L}\p{N}\p{P}\p{S}]/u;

const codePoint = (ch: string) => `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;

/**
 * Text people read (display names, room names, track ids): trimmed and NFC-normalised, with
 * a length in [min, max] code points, at least one visible character, and no hidden or
 * direction-changing characters (see HIDDEN), so a name cannot impersonate another, read
 * backwards, or look blank.
 */
export function requireText(value: string, field: string, min: number, max: number): string {
  const trimmed = value.normalize("NFC").trim();
  const length = [...trimmed].length;
  if (length < min || length > max) {
    throw invalidArgument(`${field} must be ${min} to ${max} characters`);
  }
  const hidden = HIDDEN.exec(trimmed.replace(EMOJI_JOINER, ""));
  if (hidden) {
    throw invalidArgument(`${field} must not contain invisible, control or direction-changing characters (found ${codePoint(hidden[0])})`);
  }
  if (length > 0 && !VISIBLE.test(trimmed)) {
    throw invalidArgument(`${field} must contain a visible character`);
  }
  return trimmed;
}
