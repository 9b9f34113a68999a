import { createRouterTransport, createClient } from "@connectrpc/connect";
import { ClockService } from "../../../gen/groovebox/clock/v1/clock_pb.js";
import { serviceCredentialsInterceptor } from "./service-credentials.js";
import type { TokenService } from "./tokens.js";

describe("service credentials on outgoing calls", () => {
  it("sign one token for a burst of calls that start together", async () => {
    let signed = 0;
    const tokens = {
      signService: async () => ({ token: `t${++signed}`, expiresAtMs: 3_600_000 }),
    } as unknown as TokenService;
    const seen: string[] = [];
    const transport = createRouterTransport(
      (router) =>
        router.service(ClockService, {
          ping(req, ctx) {
            seen.push(ctx.requestHeader.get("authorization") ?? "");
            return { clientSendTimeMs: req.clientSendTimeMs, serverReceiveTimeMs: 0, serverSendTimeMs: 0 };
          },
        }),
      { transport: { interceptors: [serviceCredentialsInterceptor(tokens, "gateway", { now: () => 0 })] } },
    );
    const client = createClient(ClockService, transport);
    await Promise.all(Array.from({ length: 100 }, () => client.ping({ clientSendTimeMs: 1 })));
    expect(signed).toBe(1);
    expect(new Set(seen)).toEqual(new Set(["Bearer t1"]));
  });
});
