import { buildInspect } from './commands/inspect/index.js';
import { main } from './run.js';

main(buildInspect);
