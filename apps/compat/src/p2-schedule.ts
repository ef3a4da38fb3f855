import { buildSchedule } from './commands/schedule/index.js';
import { main } from './run.js';

main(buildSchedule);
