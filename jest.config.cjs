/** Jest runs TypeScript through SWC (ts-jest does not support TypeScript 7). */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/services", "<rootDir>/clients", "<rootDir>/bench", "<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.(t|j)s$": [
      "@swc/jest",
      {
        jsc: { parser: { syntax: "typescript" }, target: "es2022" },
        module: { type: "commonjs" },
      },
    ],
  },
  // Sources import with ".js" extensions (Node ESM); Jest resolves the ".ts" files.
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  // jose ships only ES modules: let SWC turn it into CommonJS for Jest.
  transformIgnorePatterns: ["/node_modules/(?!jose/)"],
  globalSetup: "<rootDir>/test/support/global-setup.ts",
  globalTeardown: "<rootDir>/test/support/global-teardown.ts",
  // A loaded 2-core machine runs the services and the tests in one process: generous, so that
  // only a real hang or a missed event runs into it.
  testTimeout: 60_000,
};
