import type { ConnectRouter } from "@connectrpc/connect";
import { PlaybackService } from "../../gen/groovebox/playback/v1/playback_pb.js";
import { createAuthGate } from "../common/auth/gate.js";
import type { TokenService } from "../common/auth/tokens.js";
import { createPlaybackService, type PlaybackServiceDeps } from "./playback-service.js";

/** Commands need the DJ's user token; GetPlayback also admits other services. */
export const playbackRoutes = (deps: PlaybackServiceDeps & { tokens: TokenService }) => (router: ConnectRouter) =>
  router.service(PlaybackService, createPlaybackService(deps), { requestGate: createAuthGate(deps.tokens, "user-or-service") });

export const playbackServiceNames = [PlaybackService.typeName];
