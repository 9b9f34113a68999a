import { randomBytes } from "node:crypto";

/**
 * A new random id: 16 URL-safe base64 characters (96 bits). Ids become Redis hash tags, so
 * they never contain braces.
 */
export function newId(): string {
  return randomBytes(12).toString("base64url");
}
