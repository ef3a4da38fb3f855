import { p2VitestConfig } from '../../vitest.shared.ts';

export default p2VitestConfig();
