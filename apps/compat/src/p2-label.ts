import { buildLabel } from './commands/label/index.js';
import { main } from './run.js';

main(buildLabel);
