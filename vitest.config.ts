import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests start emulators on ports chosen at run time; unit tests are pure.
    pool: 'forks',
    // The SDK warns on every process that Node 20 support ends in 2027; the lock file pins the SDK.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
