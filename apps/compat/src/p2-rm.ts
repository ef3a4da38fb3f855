import { buildRm } from './commands/rm/index.js';
import { main } from './run.js';

main(buildRm);
