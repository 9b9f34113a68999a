import { measurePeerOffsets, pingBurst, type PingFn } from "./peer-offset.js";

/**
 * A simulated process whose clock is `offsetMs` ahead of true time, reached over a link whose
 * delays come from `delays` (one-way, ms) in turn. True time advances with each exchange.
 */
function simulated(world: { t: number }, offsetMs: number, delays: Array<[up: number, down: number]>): PingFn {
  let i = 0;
  return async () => {
    const [up, down] = delays[i++ % delays.length]!;
    world.t += up;
    const t1 = world.t + offsetMs;
    world.t += 0.01;
    const t2 = world.t + offsetMs;
    world.t += down;
    return { serverReceiveTimeMs: t1, serverSendTimeMs: t2 };
  };
}

describe("pingBurst", () => {
  it("takes the offset of the exchange with the smallest round trip", async () => {
    const world = { t: 0 };
    const ping = simulated(world, 0.25, [
      [0.3, 0.1],
      [0.05, 0.05], // the quickest, symmetric
      [0.02, 0.4],
    ]);
    const r = await pingBurst(ping, () => world.t, 3);
    expect(r.rttMs).toBeCloseTo(0.1, 9);
    expect(r.offsetMs).toBeCloseTo(0.25, 9);
  });

  it("counts a failed ping as a lost sample, and fails only when no ping is answered", async () => {
    const world = { t: 0 };
    const answering = simulated(world, 0.25, [[0.05, 0.05]]);
    let calls = 0;
    const flaky: PingFn = (t0) => (++calls % 2 === 1 ? Promise.reject(new Error("deadline exceeded")) : answering(t0));
    const r = await pingBurst(flaky, () => world.t, 4);
    expect(r.offsetMs).toBeCloseTo(0.25, 9);
    const lost = new Error("deadline exceeded");
    await expect(pingBurst(() => Promise.reject(lost), () => world.t, 3)).rejects.toMatchObject({ message: "no usable ping exchange", cause: lost });
  });
});

describe("measurePeerOffsets", () => {
  it("gives each target's offset from the reference, cancelling the observer's own clock", async () => {
    const world = { t: 0 };
    const observerNow = () => world.t * (1 + 200e-6) + 123; // off and drifting
    const link: Array<[number, number]> = [
      [0.08, 0.06],
      [0.05, 0.07],
      [0.2, 0.05],
    ];
    const result = await measurePeerOffsets({
      reference: simulated(world, 0, link),
      targets: { ahead: simulated(world, 0.04, link), behind: simulated(world, -0.5, link) },
      now: observerNow,
      rounds: 5,
      pingsPerBurst: 3,
    });
    expect(result.ahead.offsetMs).toBeCloseTo(0.04, 4);
    expect(result.behind.offsetMs).toBeCloseTo(-0.5, 4);
    expect(result.behind.absP99Ms).toBeCloseTo(0.5, 4);
    expect(result.ahead).toMatchObject({ rounds: 5, roundsUsed: 3 });
    expect(result.ahead.minRttMs).toBeCloseTo(0.12, 4);
  });
});
