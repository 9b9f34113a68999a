import type { ConnectRouter } from "@connectrpc/connect";
import { PlaybackService } from "../../gen/groovebox/playback/v1/playback_pb.js";
import type { Access } from "../common/auth/gate.js";
import { createPlaybackService, type PlaybackServiceDeps } from "./playback-service.js";

/** Commands need the DJ's user token; GetPlayback also admits other services. */
export const playbackRoutes = (deps: PlaybackServiceDeps) => (router: ConnectRouter) =>
  router.service(PlaybackService, createPlaybackService(deps));

export const playbackAccess: Record<string, Access> = { [PlaybackService.typeName]: "user-or-service" };

export const playbackServiceNames = [PlaybackService.typeName];
