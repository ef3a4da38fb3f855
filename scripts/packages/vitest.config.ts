import { p2VitestConfig } from '../../vitest.shared.ts';

// Checks over the published form of every package: slow (a registry, npm installs), one file at a time.
export default p2VitestConfig({
  test: {
    include: ['*.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    maxConcurrency: 4,
  },
});
