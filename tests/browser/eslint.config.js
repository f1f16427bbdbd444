// eslint over the console's JavaScript (www/) and this folder's test
// script; run by tests/bats/console.bats from the top of the tree, as
// tests/browser/node_modules/.bin/eslint -c tests/browser/eslint.config.js.
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["www/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: globals.browser,
    },
    rules: {
      "no-var": "error",
      "prefer-const": "error",
      eqeqeq: "error",
      "max-len": ["error", { code: 80 }],
    },
  },
  {
    files: ["tests/browser/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.node, ...globals.browser },
    },
    rules: { "no-var": "error", "prefer-const": "error", eqeqeq: "error" },
  },
];
