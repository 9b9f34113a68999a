/**
 * A short tone through Web Audio at a device instant, so people in a room hear whether their
 * pages start together.
 */

/** The device clock the SDK uses (performance.timeOrigin + performance.now()). */
export const deviceNow = () => performance.timeOrigin + performance.now();

/**
 * How long after audio is handed to Web Audio it leaves the speaker (ms): the context's
 * base latency plus the output device's latency (`outputLatency`, where the browser reports
 * it; Safari and older browsers do not, and then the tone sounds that much late).
 */
export function outputLatencyMs(audio: AudioContext): number {
  return ((audio.baseLatency ?? 0) + (audio.outputLatency ?? 0)) * 1000;
}

const TONE_S = 0.15;
const ATTACK_S = 0.005;
const PEAK = 0.3;
const FLOOR = 0.001;

/** The tone's gain `t` seconds after its start: a 5 ms attack, then an exponential decay. */
function envelope(t: number): number {
  if (t < ATTACK_S) return (PEAK * t) / ATTACK_S;
  return PEAK * (FLOOR / PEAK) ** ((t - ATTACK_S) / (TONE_S - ATTACK_S));
}

/**
 * Schedules an 880 Hz beep of 150 ms to be fed to the output at device time `localMs` (the
 * SDK's start instant, output latency already taken off). Returns how far ahead it was
 * scheduled (ms). When the instant has just passed (a start that arrived late), the rest of
 * the beep plays from now, in step with everyone else's, as a player joining late starts at
 * the position of now; when the whole beep is over, nothing plays.
 */
export function scheduleTone(audio: AudioContext, localMs: number): number {
  const leadMs = localMs - deviceNow();
  // currentTime is the context time of the audio being fed now.
  const at = audio.currentTime + leadMs / 1000;
  const from = Math.max(at, audio.currentTime);
  if (from >= at + TONE_S) return leadMs;
  const osc = audio.createOscillator();
  const gain = audio.createGain();
  osc.frequency.value = 880;
  gain.gain.setValueAtTime(envelope(from - at), from);
  if (from < at + ATTACK_S) gain.gain.linearRampToValueAtTime(PEAK, at + ATTACK_S);
  gain.gain.exponentialRampToValueAtTime(FLOOR, at + TONE_S);
  osc.connect(gain).connect(audio.destination);
  osc.start(from);
  osc.stop(at + TONE_S + 0.01);
  return leadMs;
}
