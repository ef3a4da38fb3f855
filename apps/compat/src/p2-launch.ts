import { buildLaunch } from './commands/launch/index.js';
import { main } from './run.js';

main(buildLaunch);
