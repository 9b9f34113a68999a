import { Code, ConnectError } from "@connectrpc/connect";
import { createCallLimit } from "./call-limit.js";

describe("the gateway's bound on calls in progress", () => {
  it("refuses calls beyond the bound at once with UNAVAILABLE, and admits again when one ends", async () => {
    let refused = 0;
    const limit = createCallLimit(2, () => refused++);
    const pending: Array<() => void> = [];
    const service = limit.wrap({
      login: () => new Promise<string>((resolve) => pending.push(() => resolve("token"))),
    });
    const first = service.login();
    const second = service.login();
    const third = service.login().catch((err: unknown) => err);
    const err = (await third) as ConnectError;
    expect(err).toBeInstanceOf(ConnectError);
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(/busy/);
    expect(refused).toBe(1);
    expect(limit.inProgress()).toBe(2);

    pending.shift()!();
    await expect(first).resolves.toBe("token");
    const fourth = service.login();
    expect(limit.inProgress()).toBe(2);
    for (const release of pending.splice(0)) release();
    await expect(Promise.all([second, fourth])).resolves.toEqual(["token", "token"]);
    expect(limit.inProgress()).toBe(0);
  });

  it("counts a failed call as ended", async () => {
    const limit = createCallLimit(1);
    const service = limit.wrap({ fail: () => Promise.reject(new ConnectError("no", Code.NotFound)) });
    await expect(service.fail()).rejects.toMatchObject({ code: Code.NotFound });
    await expect(service.fail()).rejects.toMatchObject({ code: Code.NotFound });
    expect(limit.inProgress()).toBe(0);
  });
});
