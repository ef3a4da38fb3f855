import { p2VitestConfig } from '../vitest.shared.ts';

// End-to-end scenarios start real processes: run files one at a time, with generous timeouts.
export default p2VitestConfig({
  test: { testTimeout: 120_000, hookTimeout: 120_000, fileParallelism: false },
});
