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

/** Printable text (no control characters), trimmed, with a length in [min, max]. */
export function requireText(value: string, field: string, min: number, max: number): string {
  const trimmed = value.trim();
  const length = [...trimmed].length;
  if (length < min || length > max) {
    throw invalidArgument(`${field} must be ${min} to ${max} characters`);
  }
  if (/\p{Cc}/u.test(trimmed)) throw invalidArgument(`${field} must not contain control characters`);
  return trimmed;
}
