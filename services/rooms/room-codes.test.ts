import { ROOM_CODE_ALPHABET, ROOM_CODE_LENGTH, generateRoomCode, normalizeRoomCode } from "./room-codes.js";

describe("room codes", () => {
  it("are made of unambiguous characters only", () => {
    for (const lookAlike of "0O1IL") expect(ROOM_CODE_ALPHABET).not.toContain(lookAlike);
    for (let i = 0; i < 200; i++) {
      const code = generateRoomCode();
      expect(code).toHaveLength(ROOM_CODE_LENGTH);
      expect([...code].every((ch) => ROOM_CODE_ALPHABET.includes(ch))).toBe(true);
    }
  });

  it("accept what people type: lower case, spaces and dashes", () => {
    expect(normalizeRoomCode(" abc-def ")).toBe("ABCDEF");
    expect(normalizeRoomCode("k7m 9p2")).toBe("K7M9P2");
  });

  it("reject what cannot be a code", () => {
    expect(normalizeRoomCode("")).toBeUndefined();
    expect(normalizeRoomCode("ABCDE")).toBeUndefined();
    expect(normalizeRoomCode("ABCDEFG")).toBeUndefined();
    expect(normalizeRoomCode("ABCDE0")).toBeUndefined(); // zero is not in the alphabet
    expect(normalizeRoomCode("ABC{EF")).toBeUndefined();
  });
});
