import { Code, type ServiceImpl } from "@connectrpc/connect";
import type { RoomService } from "../../gen/groovebox/room/v1/room_pb.js";
import { requireUser } from "../common/auth/gate.js";
import { notFound } from "../common/errors.js";
import { requireId } from "../common/validate.js";
import type { DeviceStore } from "./device-store.js";
import { checkReport, isMaterialChange, memberSyncOf } from "./member-sync.js";
import { check } from "./room-errors.js";
import type { RoomServiceDeps } from "./room-service.js";

/**
 * RoomService's sync methods: members report how well their devices are synchronised (kept
 * in the room's state, announced when it changes materially), and devices' output latencies
 * are remembered per user.
 */
export function createMemberSyncService(
  deps: RoomServiceDeps & { devices: DeviceStore },
): Pick<ServiceImpl<typeof RoomService>, "reportSync" | "getDevice"> {
  const { store, devices, clock, logger } = deps;
  return {
    async reportSync(req, ctx) {
      const user = requireUser(ctx);
      const roomId = requireId(req.roomId, "room_id");
      const report = checkReport(req.report);
      const now = clock.now();
      const { status, announced } = await store.reportSync(
        roomId,
        user.userId,
        memberSyncOf(report, now),
        (previous) => isMaterialChange(previous?.report, report),
        now,
      );
      check(status, { NOT_MEMBER: [Code.PermissionDenied, "not a member of the room"] });
      if (report.deviceId !== "") await devices.remember(user.userId, report.deviceId, report.outputLatencyMs, now);
      if (announced) logger.debug({ roomId, userId: user.userId, tier: report.correctionTier }, "member sync changed");
      return { announced };
    },

    async getDevice(req, ctx) {
      const user = requireUser(ctx);
      const device = await devices.get(user.userId, requireId(req.deviceId, "device_id"));
      if (device === undefined) throw notFound("the device has not reported an output latency");
      return { outputLatencyMs: device.outputLatencyMs, updatedAtTimeMs: device.updatedAtMs };
    },
  };
}
