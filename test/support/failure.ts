import { ConnectError, type Code } from "@connectrpc/connect";

/** The code and message a call fails with; throws if it succeeds. */
export async function failure(call: Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await call;
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, message: e.rawMessage };
  }
  throw new Error("the call succeeded");
}
