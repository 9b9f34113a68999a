import { Code } from "@connectrpc/connect";
import { DomainError } from "../common/errors.js";
import type { ScriptStatus } from "./room-store.js";

const MESSAGES: Record<Exclude<ScriptStatus, "OK">, [Code, string]> = {
  NOT_FOUND: [Code.NotFound, "room not found"],
  NOT_MEMBER: [Code.FailedPrecondition, "not a member of the room"],
  NOT_DJ: [Code.PermissionDenied, "only the room's DJ may do this"],
  SESSION_TAKEN: [Code.AlreadyExists, "the session belongs to another user"],
  EXISTS: [Code.AlreadyExists, "the room exists already"],
  CONFLICT: [Code.Aborted, "the room changed meanwhile; try again"],
};

/** Throws the domain error of a room script's status unless it is OK. */
export function check(status: ScriptStatus, overrides: Partial<Record<ScriptStatus, [Code, string]>> = {}): void {
  if (status === "OK") return;
  const [code, message] = overrides[status] ?? MESSAGES[status];
  throw new DomainError(code, message);
}
