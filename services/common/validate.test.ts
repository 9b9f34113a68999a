import { Code } from "@connectrpc/connect";
import { DomainError } from "./errors.js";
import { MAX_TRACK_MS, requireEpochMs, requireInRange, requireText } from "./validate.js";

/** The message of the INVALID_ARGUMENT that `fn` throws. */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe(Code.InvalidArgument);
    return (err as DomainError).message;
  }
  throw new Error("accepted");
}

describe("requireText", () => {
  const name = (s: string) => requireText(s, "display_name", 1, 40);

  it("keeps ordinary names in any script, with emoji, trimmed and NFC-normalised", () => {
    expect(name("  Ada Lovelace ")).toBe("Ada Lovelace");
    expect(name("Zoë")).toBe("Zoë");
    expect(name("Zoe\u0308")).toBe("Zoë"); // decomposed input is stored composed
    expect(name("محمد")).toBe("محمد"); // right-to-left text itself is fine
    expect(name("李小龙")).toBe("李小龙");
    expect(name("DJ 🎧")).toBe("DJ 🎧");
    expect(name("👩‍🚀 crew")).toBe("👩‍🚀 crew"); // a zero-width joiner inside an emoji sequence
    expect(name("👨🏽‍💻")).toBe("👨🏽‍💻");
  });

  it("refuses direction overrides, zero-width and other invisible characters, naming the field and the character", () => {
    const cases: Array<[string, string]> = [
      ["Ada\u202Egnp.exe", "U+202E"], // right-to-left override
      ["\u2067Ada", "U+2067"], // right-to-left isolate
      ["Ada\u200F", "U+200F"], // right-to-left mark
      ["A\u200Bda", "U+200B"], // zero-width space
      ["A\u200Dda", "U+200D"], // a joiner that joins no emoji
      ["A\u2060da", "U+2060"], // word joiner
      ["Ad\uFEFFa", "U+FEFF"], // byte order mark (trim() would drop one at either end)
      ["A\u00ADda", "U+00AD"], // soft hyphen
      ["Ada\u0007", "U+0007"], // control
      ["Ada\u2028Bob", "U+2028"], // line separator
      ["\u3164", "U+3164"], // Hangul filler: a letter that shows as nothing
      ["Ada\u{E0041}", "U+E0041"], // tag character
    ];
    for (const [input, codePoint] of cases) {
      const message = refusal(() => name(input));
      expect(message).toContain("display_name");
      expect(message).toContain(codePoint);
    }
  });

  it("refuses names that look blank or are too long", () => {
    expect(refusal(() => name("   "))).toBe("display_name must be 1 to 40 characters");
    expect(refusal(() => name("\u0301\u0301"))).toBe("display_name must contain a visible character"); // combining marks only
    expect(refusal(() => name("x".repeat(41)))).toBe("display_name must be 1 to 40 characters");
  });
});

describe("number bounds", () => {
  it("takes positions and durations from 0 to 24 h, and nothing non-finite", () => {
    expect(requireInRange(0, "position_ms", 0, MAX_TRACK_MS)).toBe(0);
    expect(requireInRange(MAX_TRACK_MS, "position_ms", 0, MAX_TRACK_MS)).toBe(MAX_TRACK_MS);
    expect(refusal(() => requireInRange(1e308, "position_ms", 0, MAX_TRACK_MS))).toBe(
      "position_ms must be between 0 and 86400000 (got 1e+308)",
    );
    expect(refusal(() => requireInRange(-1, "position_ms", 0, MAX_TRACK_MS))).toContain("position_ms");
    expect(refusal(() => requireInRange(NaN, "position_ms", 0, MAX_TRACK_MS))).toBe("position_ms must be a finite number");
  });

  it("takes client clock times within a Date's range", () => {
    expect(requireEpochMs(1_764_000_000_000, "client_send_time_ms")).toBe(1_764_000_000_000);
    expect(refusal(() => requireEpochMs(1e300, "client_send_time_ms"))).toContain("client_send_time_ms");
    expect(refusal(() => requireEpochMs(-5, "client_send_time_ms"))).toContain("client_send_time_ms");
  });
});
