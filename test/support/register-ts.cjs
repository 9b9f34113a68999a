// Lets a child process of the tests run the TypeScript sources as they are: SWC compiles each
// .ts file to CommonJS when it is required, and "./x.js" imports resolve to "./x.ts" (as
// Jest's module mapper does). Usage: node -r ./test/support/register-ts.cjs -e 'require("./main.ts")'
const fs = require("node:fs");
const Module = require("node:module");
const { transformSync } = require("@swc/core");

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  try {
    return resolveFilename.call(this, request, ...rest);
  } catch (err) {
    if (!request.startsWith(".") || !request.endsWith(".js")) throw err;
    return resolveFilename.call(this, `${request.slice(0, -3)}.ts`, ...rest);
  }
};

require.extensions[".ts"] = (module, filename) => {
  const { code } = transformSync(fs.readFileSync(filename, "utf8"), {
    filename,
    jsc: { parser: { syntax: "typescript" }, target: "es2022" },
    module: { type: "commonjs" },
    sourceMaps: "inline",
  });
  module._compile(code, filename);
};
