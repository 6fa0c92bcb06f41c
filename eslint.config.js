import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", "holdfast-demo/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": "error",
    },
  },
  { files: ["test/**", "bench/**"], rules: { "no-console": "off" } },
  // Plain Node scripts (child processes started by tests) run with Node's globals.
  { files: ["**/*.mjs"], languageOptions: { globals: { process: "readonly", setImmediate: "readonly", console: "readonly", Buffer: "readonly" } } },
);
